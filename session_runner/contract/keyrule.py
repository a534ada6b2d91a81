"""What counts as a key-encryption key (KEK): one rule for the runner and the operator.

The runner reads the KEK from the file mounted from the account's Secret and
exits when it is not a key; the operator reads the same Secret before it applies
anything and refuses the account with the same rule, so a bad key is reported on
the account (naming the field) instead of a runner that never reports. Standard
library only: the operator imports it without the runner's crypto dependencies.

A KEK is 32 raw bytes, or the base64 (standard or URL-safe, padding optional,
whitespace ignored) of 32 bytes: what ``head -c 32 /dev/urandom`` writes, and
what ``| base64`` makes of it. Messages give lengths only, never the value.
"""

from __future__ import annotations

import base64
import binascii

#: A KEK is an AES-256 key.
KEK_BYTES = 32


def decode_kek(value: bytes) -> bytes | None:
    """The 32-byte key `value` holds (as is, or base64-decoded), or None if it holds none."""
    if len(value) == KEK_BYTES:
        return value
    text = b"".join(value.split())
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            key = decode(text + b"=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(key) == KEK_BYTES:
            return key
    return None


def kek_length_problem(value: bytes) -> str | None:
    """Why `value` is not a KEK (its length only, never its content), or None if it is one."""
    if decode_kek(value) is not None:
        return None
    return (
        f"holds {len(value)} bytes, which are neither {KEK_BYTES} raw bytes nor the base64 "
        f"of {KEK_BYTES} bytes; generate one with `head -c {KEK_BYTES} /dev/urandom`"
    )
