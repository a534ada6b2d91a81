"""Meta webhook payloads → events, on the stand-in's payloads and the shapes of Meta's reference."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from session_runner.events.event import Event, EventType, Source, event_id
from session_runner.events.from_meta import from_meta, inbound_text
from tests.harness.vendor_standins.meta import MetaStandin

RECEIVED = datetime(2026, 12, 6, 10, 0, 5, tzinfo=UTC)
WAMID = "wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEjdBQkQ4"
STANDIN = MetaStandin(phone_number_id="106540352242922", app_secret="unused-here")


def standin_payload(status: str = "sent", our_id: str | None = "order-1") -> dict[str, Any]:
    """The stand-in's real-shaped status webhook, with Meta's `status` set."""
    payload = STANDIN.status_payload(WAMID, "4915112345678", our_id)
    value = payload["entry"][0]["changes"][0]["value"]
    value["statuses"][0]["status"] = status
    value["statuses"][0]["timestamp"] = "1796551200"
    return payload


def inbound(message: dict[str, Any]) -> dict[str, Any]:
    """An inbound message webhook as Meta's reference shows it."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": "4915112345678"}],
        "messages": [
            {"from": "4915112345678", "id": "wamid.IN1", "timestamp": "1796551201", **message}
        ],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


def normalise(payload: object) -> list[Event]:
    return from_meta(payload, namespace="shop", pool="meta-eu", received_at=RECEIVED)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("sent", EventType.SENT),
        ("delivered", EventType.DELIVERED),
        ("read", EventType.READ),
    ],
)
def test_a_status(status: str, kind: EventType) -> None:
    [event] = normalise(standin_payload(status))
    assert event.type is kind
    assert event.source is Source.META
    assert event.id == event_id(Source.META, WAMID, kind)
    assert event.vendor_message_id == WAMID
    assert event.message_id == "order-1"
    assert (event.namespace, event.pool, event.account) == ("shop", "meta-eu", None)
    assert event.to == "+4915112345678"
    assert event.from_ == "+15550000000"
    assert event.at == datetime.fromtimestamp(1796551200, UTC)
    assert event.error_code is None
    assert event.text is None


def test_a_failed_status_carries_its_error() -> None:
    STANDIN.undeliverable.add("4915112345678")
    try:
        payload = STANDIN.status_payload(WAMID, "4915112345678", "order-1")
    finally:
        STANDIN.undeliverable.clear()
    [event] = normalise(payload)
    assert event.type is EventType.FAILED
    assert event.error_code == "131026"
    assert event.error_detail == "Message Undeliverable."


def with_status_field(**fields: Any) -> dict[str, Any]:
    payload = standin_payload()
    payload["entry"][0]["changes"][0]["value"]["statuses"][0].update(fields)
    return payload


@pytest.mark.parametrize(
    ("case", "payload", "expected"),
    [
        ("a status Meta may add later", standin_payload("deleted"), []),
        ("a status without an id", with_status_field(id=None), []),
        ("not a WhatsApp business account", {"object": "page", "entry": []}, []),
        ("not an object", ["statuses"], []),
        ("empty", {}, []),
        (
            "another field of the account",
            {
                "object": "whatsapp_business_account",
                "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {}}]}],
            },
            [],
        ),
    ],
)
def test_what_is_skipped(case: str, payload: object, expected: list[Event]) -> None:
    assert normalise(payload) == expected, case


@pytest.mark.parametrize(
    ("case", "fields", "message_id", "at"),
    [
        ("our id", {}, "order-1", datetime.fromtimestamp(1796551200, UTC)),
        ("no opaque data", {"biz_opaque_callback_data": None}, None, None),
        ("someone else's opaque data", {"biz_opaque_callback_data": "a b#c"}, None, None),
        ("no timestamp: when we received it", {"timestamp": None}, "order-1", RECEIVED),
        ("a bad timestamp", {"timestamp": "yesterday"}, "order-1", RECEIVED),
    ],
)
def test_our_id_and_the_time(
    case: str, fields: dict[str, Any], message_id: str | None, at: datetime | None
) -> None:
    [event] = normalise(with_status_field(**fields))
    assert event.message_id == message_id, case
    if at is not None:
        assert event.at == at, case


def test_a_batch_keeps_meta_order_and_ids() -> None:
    payload = standin_payload("delivered")
    statuses = payload["entry"][0]["changes"][0]["value"]["statuses"]
    read = copy.deepcopy(statuses[0]) | {"status": "read"}
    other = copy.deepcopy(statuses[0]) | {"id": "wamid.OTHER", "status": "delivered"}
    statuses.extend([read, other])
    second_entry = copy.deepcopy(payload["entry"][0])
    second_entry["changes"][0]["value"]["statuses"] = [read]
    payload["entry"].append(second_entry)
    events = normalise(payload)
    assert [(e.vendor_message_id, e.type) for e in events] == [
        (WAMID, EventType.DELIVERED),
        (WAMID, EventType.READ),
        ("wamid.OTHER", EventType.DELIVERED),
        (WAMID, EventType.READ),
    ]
    assert events[1].id == events[3].id  # the same fact twice: one id
    assert len({e.id for e in events}) == 3


def test_an_inbound_text() -> None:
    [event] = normalise(inbound({"type": "text", "text": {"body": "Where is my order?"}}))
    assert event.type is EventType.INBOUND
    assert event.id == event_id(Source.META, "wamid.IN1", EventType.INBOUND)
    assert event.text == "Where is my order?"
    assert event.from_ == "+4915112345678"
    assert event.to == "+15550000000"
    assert event.message_id is None
    assert event.at == datetime.fromtimestamp(1796551201, UTC)


@pytest.mark.parametrize(
    ("case", "message", "text"),
    [
        ("text", {"type": "text", "text": {"body": "hi"}}, "hi"),
        (
            "image with a caption",
            {"type": "image", "image": {"caption": "receipt", "mime_type": "image/jpeg"}},
            "receipt",
        ),
        ("image without one", {"type": "image", "image": {"mime_type": "image/jpeg"}}, None),
        (
            "quick-reply button",
            {"type": "button", "button": {"text": "Yes", "payload": "Y"}},
            "Yes",
        ),
        (
            "interactive button reply",
            {"type": "interactive", "interactive": {"button_reply": {"id": "1", "title": "Track"}}},
            "Track",
        ),
        (
            "interactive list reply",
            {"type": "interactive", "interactive": {"list_reply": {"id": "2", "title": "Returns"}}},
            "Returns",
        ),
        ("sticker", {"type": "sticker", "sticker": {"mime_type": "image/webp"}}, None),
        ("malformed text", {"type": "text", "text": "hi"}, None),
    ],
)
def test_inbound_text(case: str, message: dict[str, Any], text: str | None) -> None:
    assert inbound_text(message) == text, case
    [event] = normalise(inbound(message))
    assert event.text == text, case


def test_statuses_and_messages_in_one_change() -> None:
    payload = inbound({"type": "text", "text": {"body": "thanks"}})
    status_value = standin_payload("read")["entry"][0]["changes"][0]["value"]
    payload["entry"][0]["changes"][0]["value"]["statuses"] = status_value["statuses"]
    assert [e.type for e in normalise(payload)] == [EventType.READ, EventType.INBOUND]
