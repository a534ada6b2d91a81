"""Engine events of one of our accounts → events (acks and inbound messages only)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from session_runner.events.event import EventType, Source, event_id
from session_runner.events.from_engine import from_engine, jid_number
from session_runner.session.engines.events import (
    AckStatus,
    Conflict,
    Connected,
    EngineEvent,
    InboundMessage,
    LoggedIn,
    MessageAck,
    QrCode,
)

AT = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
WA_ID = "3EB0C431C26A1916E1B4"


@pytest.mark.parametrize(
    ("status", "code", "kind", "error_code"),
    [
        (AckStatus.SENT, None, EventType.SENT, None),
        (AckStatus.DELIVERED, None, EventType.DELIVERED, None),
        (AckStatus.READ, None, EventType.READ, None),
        (AckStatus.PLAYED, None, EventType.READ, None),
        (AckStatus.FAILED, 463, EventType.FAILED, "463"),
        (AckStatus.FAILED, None, EventType.FAILED, None),
    ],
)
def test_acks(status: AckStatus, code: int | None, kind: EventType, error_code: str | None) -> None:
    ack = MessageAck(message_id=WA_ID, status=status, error_code=code, at=AT)
    event = from_engine(
        ack, namespace="shop", account="demo", phone="+15550009999", message_id="order-9"
    )
    assert event is not None
    assert event.type is kind
    assert event.id == event_id(Source.SESSION, WA_ID, kind, "shop/demo")
    assert (event.source, event.account, event.pool) == (Source.SESSION, "demo", None)
    assert (event.vendor_message_id, event.message_id) == (WA_ID, "order-9")
    assert event.from_ == "+15550009999"
    assert event.error_code == error_code
    assert event.at == AT


def test_an_inbound_message() -> None:
    message = InboundMessage(
        message_id=WA_ID,
        chat_jid="4915112345678@s.whatsapp.net",
        sender_jid="4915112345678:3@s.whatsapp.net",
        text="hello",
        timestamp=AT,
    )
    event = from_engine(message, namespace="shop", account="demo", phone="+15550009999")
    assert event is not None
    assert event.type is EventType.INBOUND
    assert (event.from_, event.to, event.text) == ("+4915112345678", "+15550009999", "hello")
    assert event.at == AT


@pytest.mark.parametrize(
    "engine_event",
    [
        QrCode(payload="2@abc", expires_in_s=20),
        LoggedIn(jid="15550009999@s.whatsapp.net"),
        Connected(),
        Conflict(detail="stream replaced"),
    ],
)
def test_account_events_are_not_message_events(engine_event: EngineEvent) -> None:
    assert from_engine(engine_event, namespace="shop", account="demo") is None


@pytest.mark.parametrize(
    ("jid", "number"),
    [
        ("4915112345678@s.whatsapp.net", "+4915112345678"),
        ("4915112345678:12@s.whatsapp.net", "+4915112345678"),
        ("4915112345678@c.us", "+4915112345678"),
        ("120363025246125486@g.us", "120363025246125486@g.us"),
        ("129987654321@lid", "129987654321@lid"),
    ],
)
def test_jid_number(jid: str, number: str) -> None:
    assert jid_number(jid) == number
