"""The contract between the sender and a vendor adapter: what happened to one send.

Exactly-once lives in the sender's ledger, and the ledger can only be right
if every answer is classified by one question: *could the vendor now hold
this message?* `SENT` says yes, with its id; `RETRY`, `PERMANENT`, `THROTTLE`
and `AUTH` say no (the vendor refused it, or it never reached the vendor);
`UNKNOWN` says maybe, and is the only outcome after which sending again could
deliver twice. Adapters never raise for a vendor or network answer: a result
is data the sender decides on, an exception would be a bug.

The pure rules every HTTP vendor shares (an HTTP status without a known
vendor code, `Retry-After`, a short detail with no secret in it) live here;
each vendor module adds its own table of error codes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol

from session_runner.error_codes import as_code as as_code
from session_runner.retry_after import parse_retry_after as parse_retry_after
from session_runner.sender.message import OutboundMessage

MAX_DETAIL_CHARS: Final = 200
REDACTED: Final = "[redacted]"


class Outcome(StrEnum):
    """What one send attempt means for the ledger and for the pool."""

    SENT = "sent"  # the vendor accepted it: record its id
    RETRY = "retry"  # not sent; safe to try again later (this message only)
    PERMANENT = "permanent"  # not sent and never will be: bad number, opted out, window closed
    THROTTLE = "throttle"  # not sent; the vendor asks the whole pool to slow down
    AUTH = "auth"  # not sent; the vendor refuses this pool's credentials or sender: stop the pool
    UNKNOWN = "unknown"  # the request may have landed: sending again could deliver twice


@dataclass(frozen=True)
class SendResult:
    """One send's outcome. `code` is the vendor's error code as text; `detail` is short and
    never holds a secret; `retry_after_s` is the vendor's (or its documentation's) wait."""

    outcome: Outcome
    vendor_message_id: str | None = None
    code: str | None = None
    detail: str = ""
    retry_after_s: float | None = None


class Lookup(StrEnum):
    FOUND = "found"  # the vendor holds a message that is this one
    NOT_FOUND = "not_found"  # it holds none that could be this one
    CANNOT_TELL = "cannot_tell"  # no answer, an ambiguous one, or the vendor cannot be asked


@dataclass(frozen=True)
class LookupResult:
    lookup: Lookup
    vendor_message_id: str | None = None


CANNOT_TELL: Final = LookupResult(Lookup.CANNOT_TELL)


class VendorAdapter(Protocol):
    """One vendor's API for one pool. `sender` is the pool's sending number (E.164)."""

    @property
    def name(self) -> str: ...

    async def send(self, message: OutboundMessage, *, sender: str | None) -> SendResult:
        """Send once, no retries; never raises for a vendor or network answer."""
        ...

    async def lookup(self, message: OutboundMessage, *, sender: str | None) -> LookupResult:
        """Whether the vendor holds a message we sent as `message` (after an UNKNOWN)."""
        ...

    async def close(self) -> None: ...


class AdapterConfigError(ValueError):
    """An adapter cannot be built from this configuration (names keys, never values)."""


def outcome_for_status(status: int) -> Outcome:
    """An HTTP error status whose body names no vendor code we know.

    5xx means the vendor got our request and failed somewhere we cannot see:
    it may have sent the message first. Any other 4xx is the vendor refusing
    this request, which sending it again will not change. 408 says the server
    gave up waiting for the request, so it never processed it.
    """
    if status == 408:
        return Outcome.RETRY
    if status == 429:
        return Outcome.THROTTLE
    if status in (401, 403):
        return Outcome.AUTH
    if 400 <= status < 500:
        return Outcome.PERMANENT
    return Outcome.UNKNOWN


def short_detail(text: str, secrets: Iterable[str] = ()) -> str:
    """One line of at most MAX_DETAIL_CHARS for a result or a log, every secret value removed.

    Vendors do not echo tokens in their errors, but a detail travels into the
    ledger and the logs, so it is cleaned rather than trusted.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    line = re.sub(r"\s+", " ", text).strip()
    if len(line) > MAX_DETAIL_CHARS:
        line = line[: MAX_DETAIL_CHARS - 1] + "…"
    return line
