"""A Twilio webhook (a status callback or an incoming WhatsApp message) → an event. Pure.

Status callbacks are form posts to the StatusCallback URL we gave with the
send (Twilio's "Outbound Message Status in Status Callbacks"; the stand-in's
`_status_callback`): `MessageSid`, `MessageStatus` (queued, sending, sent,
delivered, undelivered, failed, read, …), `AccountSid`, `From`, `To`
(`whatsapp:+E164`), `ErrorCode` when it failed. They carry no time, so `at` is
when we received one; and no field of ours, so our message id comes from the
URL's query (`wafleet_message_id`, see vendors/twilio.py).

An incoming message, posted to the number's messaging webhook, has
`SmsStatus=received`, `Body`, `From`, `To`, `MessageSid`: it becomes
`message.inbound`. Twilio's steps before `sent` (queued, accepted, sending,
scheduled) are not news for subscribers: no event.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from session_runner.events.event import Event, EventType, Source, phone_number
from session_runner.sender.message import MESSAGE_ID_PATTERN
from session_runner.sender.vendors.twilio import ID_QUERY_PARAM

#: Twilio's status values → event types; absent: no event.
STATUS_TYPES: Final[Mapping[str, EventType]] = {
    "sent": EventType.SENT,
    "delivered": EventType.DELIVERED,
    "read": EventType.READ,
    "undelivered": EventType.FAILED,
    "failed": EventType.FAILED,
    "canceled": EventType.FAILED,
    "received": EventType.INBOUND,
}

_OUR_ID = re.compile(MESSAGE_ID_PATTERN)


def message_id_from_query(query: Mapping[str, str]) -> str | None:
    """Our message id from the callback URL's query, when it is one."""
    value = query.get(ID_QUERY_PARAM)
    return value if value and _OUR_ID.match(value) else None


def _first(params: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = params.get(name)
        if value:
            return value
    return None


def from_twilio(
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    message_id: str | None,
    namespace: str,
    pool: str,
    received_at: datetime,
) -> Event | None:
    """The event one callback reports, or None (a step before `sent`, or not Twilio's shape)."""
    fields = dict(params)  # a repeated key keeps its last value: Twilio repeats none of these
    status = _first(fields, "MessageStatus", "SmsStatus")
    sid = _first(fields, "MessageSid", "SmsSid", "SmsMessageSid")
    kind = STATUS_TYPES.get((status or "").lower())
    if kind is None or sid is None:
        return None
    failed = kind is EventType.FAILED
    return Event.create(
        type=kind,
        source=Source.TWILIO,
        vendor_message_id=sid,
        at=received_at,
        namespace=namespace,
        pool=pool,
        message_id=message_id if kind is not EventType.INBOUND else None,
        to=phone_number(fields.get("To")),
        from_=phone_number(fields.get("From")),
        error_code=_first(fields, "ErrorCode") if failed else None,
        error_detail=(_first(fields, "ErrorMessage") or f"Twilio status {status}")
        if failed
        else None,
        text=_first(fields, "Body") if kind is EventType.INBOUND else None,
    )
