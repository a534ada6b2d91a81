"""The event contract: stable ids, the JSON form subscribers see, what a valid event is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from session_runner.events.event import (
    MAX_DETAIL_CHARS,
    Event,
    EventType,
    Source,
    event_id,
    phone_number,
    status_type,
)
from session_runner.session.engines.events import AckStatus

AT = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def meta_event(**changes: object) -> Event:
    fields: dict[str, object] = {
        "type": EventType.DELIVERED,
        "source": Source.META,
        "vendor_message_id": "wamid.HBgLMTU1NTAwMDAwMDA",
        "at": AT,
        "namespace": "shop",
        "pool": "meta-eu",
        "message_id": "order-1",
        "to": "+4915112345678",
        "from_": "+15550000000",
    }
    fields.update(changes)
    return Event.create(**fields)  # type: ignore[arg-type]


SAME = event_id(Source.META, "wamid.A", EventType.DELIVERED)


@pytest.mark.parametrize(
    ("case", "other", "same"),
    [
        ("the same fact again", event_id(Source.META, "wamid.A", EventType.DELIVERED), True),
        ("another status", event_id(Source.META, "wamid.A", EventType.READ), False),
        ("another message", event_id(Source.META, "wamid.B", EventType.DELIVERED), False),
        ("another source", event_id(Source.TWILIO, "wamid.A", EventType.DELIVERED), False),
        ("another scope", event_id(Source.META, "wamid.A", EventType.DELIVERED, "x/y"), False),
    ],
)
def test_event_id_is_the_fact(case: str, other: str, same: bool) -> None:
    assert (other == SAME) is same, case


@pytest.mark.parametrize(
    ("case", "first", "second", "same"),
    [
        ("a webhook delivered twice", {}, {}, True),
        ("stamped at another moment", {}, {"at": AT + timedelta(seconds=40)}, True),
        ("with and without our id", {}, {"message_id": None}, True),
        ("another status", {}, {"type": EventType.READ}, False),
        ("another pool hearing the same vendor fact", {}, {"pool": "meta-us"}, True),
    ],
)
def test_the_id_of_an_event(
    case: str, first: dict[str, object], second: dict[str, object], same: bool
) -> None:
    assert (meta_event(**first).id == meta_event(**second).id) is same, case


def test_session_ids_are_scoped_by_account() -> None:
    """WhatsApp's own message ids are unique per account only."""

    def ack(account: str) -> Event:
        return Event.create(
            type=EventType.READ,
            source=Source.SESSION,
            vendor_message_id="3EB0C431C26A1916E1B4",
            at=AT,
            namespace="shop",
            account=account,
        )

    assert ack("a").id != ack("b").id
    assert ack("a").id == ack("a").id
    assert ack("a").id.startswith("evt_")
    assert len(ack("a").id) == 36


def test_json_round_trip_and_wire_names() -> None:
    event = meta_event(type=EventType.FAILED, error_code="131026", error_detail="Undeliverable")
    wire = event.to_json()
    assert '"from":"+15550000000"' in wire
    assert "from_" not in wire
    assert '"text"' not in wire  # unset fields are left out
    assert '"type":"message.failed"' in wire
    assert Event.from_json(wire) == event


def test_times_are_utc() -> None:
    event = meta_event(at=datetime(2026, 12, 6, 12, 0, tzinfo=timezone(timedelta(hours=2))))
    assert event.at == AT
    assert event.at.tzinfo == UTC
    assert event.to_json().count("2026-12-06T10:00:00Z") == 1


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("no owner", {"pool": None}),
        ("two owners", {"account": "demo"}),
        ("a name that is not a Kubernetes name", {"pool": "../etc"}),
        ("a naive time", {"at": datetime(2026, 12, 6, 10, 0)}),
        ("no vendor id", {"vendor_message_id": ""}),
    ],
)
def test_invalid_events_are_refused(case: str, changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        meta_event(**changes)


def test_unknown_fields_are_refused() -> None:
    wire = meta_event().to_json().replace('"source"', '"colour":"red","source"')
    with pytest.raises(ValidationError):
        Event.from_json(wire)


def test_error_detail_is_bounded() -> None:
    event = meta_event(type=EventType.FAILED, error_detail="x" * 5000)
    assert event.error_detail is not None
    assert len(event.error_detail) == MAX_DETAIL_CHARS


def test_frozen() -> None:
    with pytest.raises(ValidationError):
        meta_event().text = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("whatsapp:+14155550123", "+14155550123"),
        ("4915112345678", "+4915112345678"),
        ("+1 555-000 0000", "+15550000000"),
        ("120363025246125486@g.us", "120363025246125486@g.us"),
        ("MyBrand", "MyBrand"),
        ("0049151", "0049151"),
        ("", None),
        (None, None),
    ],
)
def test_phone_number(given: str | None, expected: str | None) -> None:
    assert phone_number(given) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (AckStatus.SENT, EventType.SENT),
        (AckStatus.DELIVERED, EventType.DELIVERED),
        (AckStatus.READ, EventType.READ),
        (AckStatus.PLAYED, EventType.READ),
        (AckStatus.FAILED, EventType.FAILED),
    ],
)
def test_status_type(status: AckStatus, expected: EventType) -> None:
    assert status_type(status) is expected
