"""Vendors' and WhatsApp's numeric error codes, read from structured fields only.

Engines (whatsmeow's server errors) and vendor adapters (Graph and Twilio
error bodies) both get codes as JSON numbers or digit strings. A code is
never found by searching an error's text: a phone number containing 463 is
not a quota refusal.
"""

from __future__ import annotations


def as_code(value: object) -> int | None:
    """A code given as a number or as digits; anything else (a boolean too) is no code."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
