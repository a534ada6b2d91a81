"""Secrets as the roles read them from the API server: by name, values decoded with care.

Only `get` by name is ever needed (never list or watch): a role reads the one
Secret a resource names. A value is decoded from base64 and UTF-8 with its
surrounding whitespace dropped; anything else (absent, not base64, not text,
larger than a secret can be) reads as absent rather than as garbage.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

#: No secret wafleet reads is longer (tokens, HMAC keys, whsec_ strings).
MAX_SECRET_BYTES: Final = 4096


def secret_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/secrets/{name}"


def decode_value(encoded: object, max_bytes: int = MAX_SECRET_BYTES) -> str | None:
    """A Secret's `data` value as the secret it holds: base64, then UTF-8, surrounding
    whitespace dropped (a Secret made from a file keeps its newline, as the files provider
    strips it). None when absent, empty, not base64, not text, or too large to be one."""
    if not isinstance(encoded, str) or not encoded:
        return None
    if len(encoded) > (max_bytes + 2) // 3 * 4:
        return None
    try:
        raw = base64.b64decode(encoded, validate=True)
        if len(raw) > max_bytes:
            return None
        value = raw.decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return value or None
