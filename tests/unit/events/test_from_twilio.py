"""Twilio status callbacks and incoming messages → events (the stand-in's callback fields)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from session_runner.events.event import EventType, Source, event_id
from session_runner.events.from_twilio import from_twilio, message_id_from_query

RECEIVED = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
SID = "SM1f0e3d2c4b5a69788796a5b4c3d2e1f0"


def callback(status: str, **extra: str) -> dict[str, str]:
    """A status callback's form, as the stand-in (and Twilio) posts it."""
    return {
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "ApiVersion": "2010-04-01",
        "ChannelPrefix": "whatsapp",
        "From": "whatsapp:+15550001111",
        "MessageSid": SID,
        "MessageStatus": status,
        "SmsSid": SID,
        "SmsStatus": status,
        "To": "whatsapp:+4915112345678",
        **extra,
    }


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("sent", EventType.SENT),
        ("delivered", EventType.DELIVERED),
        ("read", EventType.READ),
        ("undelivered", EventType.FAILED),
        ("failed", EventType.FAILED),
        ("canceled", EventType.FAILED),
        ("queued", None),
        ("accepted", None),
        ("sending", None),
        ("scheduled", None),
        ("a status Twilio may add later", None),
    ],
)
def test_statuses(status: str, kind: EventType | None) -> None:
    event = from_twilio(
        callback(status), message_id="order-7", namespace="shop", pool="tw", received_at=RECEIVED
    )
    if kind is None:
        assert event is None
        return
    assert event is not None
    assert event.type is kind
    assert event.id == event_id(Source.TWILIO, SID, kind)
    assert (event.source, event.vendor_message_id, event.message_id) == (
        Source.TWILIO,
        SID,
        "order-7",
    )
    assert (event.to, event.from_) == ("+4915112345678", "+15550001111")
    assert event.at == RECEIVED
    assert (event.namespace, event.pool) == ("shop", "tw")


def test_a_failure_carries_twilio_error_code() -> None:
    event = from_twilio(
        callback("undelivered", ErrorCode="63016"),
        message_id="order-7",
        namespace="shop",
        pool="tw",
        received_at=RECEIVED,
    )
    assert event is not None
    assert (event.error_code, event.error_detail) == ("63016", "Twilio status undelivered")


def test_an_incoming_message() -> None:
    form = {
        "SmsMessageSid": "SMaaaa",
        "NumMedia": "0",
        "ProfileName": "Kerry",
        "SmsSid": "SMaaaa",
        "WaId": "4915112345678",
        "SmsStatus": "received",
        "Body": "Where is my order?",
        "To": "whatsapp:+15550001111",
        "NumSegments": "1",
        "MessageSid": "SMaaaa",
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "From": "whatsapp:+4915112345678",
        "ApiVersion": "2010-04-01",
    }
    event = from_twilio(
        form, message_id="ignored", namespace="shop", pool="tw", received_at=RECEIVED
    )
    assert event is not None
    assert event.type is EventType.INBOUND
    assert event.text == "Where is my order?"
    assert (event.from_, event.to) == ("+4915112345678", "+15550001111")
    assert event.message_id is None  # an inbound message is nobody's outbound message


@pytest.mark.parametrize(
    ("case", "form"),
    [
        ("no sid", {"MessageStatus": "delivered"}),
        ("no status", {"MessageSid": SID}),
        ("empty", {}),
    ],
)
def test_not_a_callback(case: str, form: dict[str, str]) -> None:
    assert (
        from_twilio(form, message_id=None, namespace="shop", pool="tw", received_at=RECEIVED)
        is None
    ), case


def test_pairs_are_accepted_as_posted() -> None:
    event = from_twilio(
        list(callback("read").items()),
        message_id=None,
        namespace="shop",
        pool="tw",
        received_at=RECEIVED,
    )
    assert event is not None
    assert event.type is EventType.READ
    assert event.message_id is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"wafleet_message_id": "order-7"}, "order-7"),
        ({"wafleet_message_id": "wf-3b8d0c2e"}, "wf-3b8d0c2e"),
        ({"wafleet_message_id": "ratelimit#shop/tw"}, None),
        ({"wafleet_message_id": ""}, None),
        ({}, None),
    ],
)
def test_message_id_from_query(query: dict[str, str], expected: str | None) -> None:
    assert message_id_from_query(query) == expected
