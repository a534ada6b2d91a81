"""`Retry-After` (RFC 9110), read alike by the senders (vendor throttles) and the webhook
dispatcher (subscribers asking to be left alone)."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` (RFC 9110): delay-seconds or an HTTP-date; None when absent or garbled.

    A date in the past means "now" (0), never a negative wait.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, (when - now).total_seconds())
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)
