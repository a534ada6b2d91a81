"""Finding known secret values where they must never be: logs, events, status, exceptions.

Every integration test that runs on the real API server gets this check for
free: when its namespace is released (`tests/harness/kube.py`), the values of
every Secret in the namespace (and any value a test registered, e.g. for a
Secret it deleted) are looked for in the namespace's Events, in every wafleet
object (the whole object, status included) and in the logs of the processes
the test ran (the operator, the runners the stand-in kubelet started). A leak
fails the test at teardown, naming the secret and where it was found, never
printing the value itself.

A value is looked for in every form a careless log line could carry it: as
text, base64 (standard and URL-safe, with and without padding), and hex; a
value that is itself base64 (a KEK is often stored that way) is also looked
for in the forms of what it decodes to. Values shorter than `MIN_SECRET_BYTES`
are skipped: "testing" or "key" would be found everywhere and prove nothing,
so tests that check a secret use long, random-looking values.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Shorter values are not searched for (they would match by chance).
MIN_SECRET_BYTES = 12


def _b64_forms(value: bytes) -> set[str]:
    standard = base64.b64encode(value).decode()
    urlsafe = base64.urlsafe_b64encode(value).decode()
    return {standard, standard.rstrip("="), urlsafe, urlsafe.rstrip("=")}


def _decoded_base64(value: bytes) -> bytes | None:
    """What `value` decodes to if it is base64 text, else None."""
    try:
        text = value.decode("ascii").strip()
        return base64.b64decode(text, validate=True) if text else None
    except (UnicodeDecodeError, binascii.Error, ValueError):
        return None


def secret_forms(value: bytes) -> set[str]:
    """Every text form of `value` worth looking for (empty when it is too short to search)."""
    if len(value) < MIN_SECRET_BYTES:
        return set()
    forms = _b64_forms(value) | {value.hex()}
    with contextlib.suppress(UnicodeDecodeError):
        forms.add(value.decode("utf-8"))
    inner = _decoded_base64(value)
    if inner is not None and len(inner) >= MIN_SECRET_BYTES:
        forms |= _b64_forms(inner) | {inner.hex()}
    # A form shorter than the minimum (hex of nothing, stripped text) would match by chance.
    return {form for form in forms if len(form) >= MIN_SECRET_BYTES}


@dataclass(frozen=True)
class Leak:
    """Secret `secret` appeared in `where` (the value itself is never recorded)."""

    secret: str
    where: str


def find_leaks(secrets: Mapping[str, bytes], texts: Mapping[str, str]) -> list[Leak]:
    """Which named secrets appear, in any form, in which named texts."""
    leaks: list[Leak] = []
    for secret_name, value in sorted(secrets.items()):
        forms = secret_forms(value)
        for where, text in sorted(texts.items()):
            if any(form in text for form in forms):
                leaks.append(Leak(secret_name, where))
    return leaks


def describe(leaks: Iterable[Leak]) -> str:
    """One line per leak, for an assertion message (names only, never values)."""
    return "\n".join(f"secret {leak.secret!r} found in {leak.where}" for leak in leaks)
