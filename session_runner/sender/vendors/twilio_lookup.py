"""Finding a send of ours among Twilio's Message resources, when Twilio cannot be asked by id.

Twilio keeps no caller data on a Message and takes no idempotency key, so
after an UNKNOWN send the only question Twilio can answer is whether it holds
a message indistinguishable from ours: same recipient, same sender, the exact
text, created since our message was. None: ours never landed (NOT_FOUND, safe
to send). Exactly one: that is ours, or a twin from another id that nothing
can tell apart (FOUND, with its sid). More, or a scan cut short: CANNOT_TELL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final

from session_runner.sender.vendors.base import CANNOT_TELL, Lookup, LookupResult

PAGE_SIZE: Final = 100
MAX_PAGES: Final = 5
#: Twilio's clock against the producer's: a message may look created this much early.
CLOCK_SKEW: Final = timedelta(minutes=2)


def _created(resource: Mapping[str, Any]) -> datetime | None:
    value = resource.get("date_created")
    if not isinstance(value, str):
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else None


def _same_sender(resource: Mapping[str, Any], sender: Mapping[str, str]) -> bool:
    if "From" in sender:
        return resource.get("from") == sender["From"]
    return resource.get("messaging_service_sid") == sender.get("MessagingServiceSid")


def scan_page(
    resources: Sequence[Mapping[str, Any]],
    *,
    to_address: str,
    body: str,
    sender: Mapping[str, str],
    not_before: datetime,
) -> tuple[list[str], bool]:
    """Sids on this page indistinguishable from ours, and whether the page lies wholly before
    `not_before` (Twilio lists newest first, so later pages are older still).

    `sender` is the send's form fields: `From` or `MessagingServiceSid`. A
    resource whose creation time cannot be read is kept: it cannot be ruled out.
    """
    candidates: list[str] = []
    all_older = bool(resources)
    for resource in resources:
        created = _created(resource)
        older = created is not None and created < not_before
        all_older = all_older and older
        if older or str(resource.get("direction", "")).startswith("inbound"):
            continue
        if resource.get("to") != to_address or resource.get("body") != body:
            continue
        sid = resource.get("sid")
        if _same_sender(resource, sender) and isinstance(sid, str) and sid:
            candidates.append(sid)
    return candidates, all_older


def verdict(candidates: Sequence[str], *, complete: bool) -> LookupResult:
    """One candidate: FOUND; none after a complete scan: NOT_FOUND; else CANNOT_TELL."""
    if len(candidates) == 1 and complete:
        return LookupResult(Lookup.FOUND, candidates[0])
    if not candidates and complete:
        return LookupResult(Lookup.NOT_FOUND)
    return CANNOT_TELL
