"""A Meta WhatsApp Cloud API webhook payload → events. Pure.

The shape (Meta's "Webhooks: messages" reference; the stand-in's `status_payload`):

    {"object": "whatsapp_business_account",
     "entry": [{"id": "<WABA id>", "changes": [{"field": "messages", "value": {
         "messaging_product": "whatsapp",
         "metadata": {"display_phone_number": "15550000000", "phone_number_id": "1065…"},
         "statuses": [{"id": "wamid…", "status": "sent|delivered|read|failed",
                       "timestamp": "1700000000", "recipient_id": "4915112345678",
                       "biz_opaque_callback_data": "<our id>",
                       "errors": [{"code": 131026, "title": …, "message": …,
                                   "error_data": {"details": …}}]}],
         "contacts": [{"profile": {"name": …}, "wa_id": "4915112345678"}],
         "messages": [{"from": "4915112345678", "id": "wamid…", "timestamp": "…",
                       "type": "text", "text": {"body": "hi"}}]}}]}]}

One payload can batch many changes, statuses and messages: each becomes an
event. What is not a message status or an inbound message (other `field`s,
a status Meta may add later, an item without an id) is skipped, never an
error: Meta retries anything but a 200 for days, and a payload we cannot use
will not get better.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from session_runner.events.event import Event, EventType, Source, phone_number
from session_runner.sender.message import MESSAGE_ID_PATTERN

#: Meta's `status` values → event types (anything else is skipped).
STATUS_TYPES: Final[Mapping[str, EventType]] = {
    "sent": EventType.SENT,
    "delivered": EventType.DELIVERED,
    "read": EventType.READ,
    "failed": EventType.FAILED,
}
#: Message types whose media object may carry a caption (the message's text).
CAPTIONED: Final = ("image", "video", "document")

_OUR_ID = re.compile(MESSAGE_ID_PATTERN)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, Mapping))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def moment(timestamp: object, fallback: datetime) -> datetime:
    """Meta's `timestamp` (epoch seconds, as a string) as UTC; `fallback` when absent or bad."""
    try:
        return datetime.fromtimestamp(int(str(timestamp)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return fallback


def our_message_id(value: object) -> str | None:
    """`biz_opaque_callback_data` when it is one of our message ids (others may use the field)."""
    text = _text(value)
    return text if text is not None and _OUR_ID.match(text) else None


def error_fields(status: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """A failed status's first error: its code, and the most specific text Meta gave."""
    for error in _items(status.get("errors")):
        code = error.get("code")
        details = _mapping(error.get("error_data")).get("details")
        detail = _text(details) or _text(error.get("message")) or _text(error.get("title"))
        return (None if code is None else str(code)), detail
    return None, None


def inbound_text(message: Mapping[str, Any]) -> str | None:
    """What the person wrote: a text's body, a media caption, a button's or a reply's title."""
    kind = message.get("type")
    if kind == "text":
        return _text(_mapping(message.get("text")).get("body"))
    if kind in CAPTIONED:
        return _text(_mapping(message.get(str(kind))).get("caption"))
    if kind == "button":
        return _text(_mapping(message.get("button")).get("text"))
    if kind == "interactive":
        interactive = _mapping(message.get("interactive"))
        reply = _mapping(interactive.get("button_reply")) or _mapping(interactive.get("list_reply"))
        return _text(reply.get("title"))
    return None


@dataclass(frozen=True)
class _Context:
    namespace: str
    pool: str
    business: str | None  # the business number (E.164), from the change's metadata
    received: datetime


def _status_event(status: Mapping[str, Any], context: _Context) -> Event | None:
    kind = STATUS_TYPES.get(str(status.get("status")))
    wamid = _text(status.get("id"))
    if kind is None or wamid is None:
        return None
    code, detail = error_fields(status) if kind is EventType.FAILED else (None, None)
    return Event.create(
        type=kind,
        source=Source.META,
        vendor_message_id=wamid,
        at=moment(status.get("timestamp"), context.received),
        namespace=context.namespace,
        pool=context.pool,
        message_id=our_message_id(status.get("biz_opaque_callback_data")),
        to=phone_number(_text(status.get("recipient_id"))),
        from_=context.business,
        error_code=code,
        error_detail=detail,
    )


def _inbound_event(message: Mapping[str, Any], context: _Context) -> Event | None:
    wamid = _text(message.get("id"))
    if wamid is None:
        return None
    return Event.create(
        type=EventType.INBOUND,
        source=Source.META,
        vendor_message_id=wamid,
        at=moment(message.get("timestamp"), context.received),
        namespace=context.namespace,
        pool=context.pool,
        to=context.business,
        from_=phone_number(_text(message.get("from"))),
        text=inbound_text(message),
    )


def from_meta(payload: object, *, namespace: str, pool: str, received_at: datetime) -> list[Event]:
    """Every status and inbound message in one webhook payload, in the order Meta listed them.

    `received_at` stamps items without a usable timestamp.
    """
    root = _mapping(payload)
    if root.get("object") != "whatsapp_business_account":
        return []
    events: list[Event] = []
    for entry in _items(root.get("entry")):
        for change in _items(entry.get("changes")):
            if change.get("field") != "messages":
                continue
            value = _mapping(change.get("value"))
            metadata = _mapping(value.get("metadata"))
            business = phone_number(_text(metadata.get("display_phone_number")))
            context = _Context(namespace, pool, business, received_at)
            for status in _items(value.get("statuses")):
                event = _status_event(status, context)
                if event is not None:
                    events.append(event)
            for message in _items(value.get("messages")):
                event = _inbound_event(message, context)
                if event is not None:
                    events.append(event)
    return events
