"""An engine event of one of our WhatsApp accounts → an event, or None. Pure.

Only what subscribers are told about messages: `MessageAck` (sent,
delivered, read, played → read, failed) and `InboundMessage`. Login,
connection and conflict events are the account's status, not message
events. The engine's message id is WhatsApp's (`vendor_message_id`); our id
(the producer's) is known only to whoever sent the message, so the caller
passes it when it has it.
"""

from __future__ import annotations

from session_runner.events.event import Event, EventType, Source, phone_number, status_type
from session_runner.session.engines.events import EngineEvent, InboundMessage, MessageAck

#: jid servers whose user part is a phone number (whatsmeow's, and WhatsApp Web's legacy one).
PHONE_SERVERS = ("s.whatsapp.net", "c.us")


def jid_number(jid: str) -> str:
    """`4915112345678:12@s.whatsapp.net` → `+4915112345678`; a group or hidden (lid) jid as given."""
    user, _, server = jid.partition("@")
    number = user.partition(":")[0]
    if server in PHONE_SERVERS and number.isdigit():
        return f"+{number}"
    return jid


def from_engine(
    event: EngineEvent,
    *,
    namespace: str,
    account: str,
    phone: str | None = None,
    message_id: str | None = None,
) -> Event | None:
    """`phone`: the account's own number (E.164); `message_id`: our id of an acked message."""
    if isinstance(event, MessageAck):
        kind = status_type(event.status)
        failed = kind is EventType.FAILED and event.error_code is not None
        return Event.create(
            type=kind,
            source=Source.SESSION,
            vendor_message_id=event.message_id,
            at=event.at,
            namespace=namespace,
            account=account,
            message_id=message_id,
            from_=phone_number(phone),
            error_code=str(event.error_code) if failed else None,
        )
    if isinstance(event, InboundMessage):
        return Event.create(
            type=EventType.INBOUND,
            source=Source.SESSION,
            vendor_message_id=event.message_id,
            at=event.timestamp,
            namespace=namespace,
            account=account,
            to=phone_number(phone),
            from_=jid_number(event.sender_jid),
            text=event.text,
        )
    return None
