"""Event models: one union, frozen, UTC, and a lossless round trip through the adapter."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from session_runner.session.engines.base import SendRejected, normalize_jid
from session_runner.session.engines.events import (
    EVENT_ADAPTER,
    AckStatus,
    Conflict,
    Connected,
    Disconnected,
    EngineEvent,
    InboundMessage,
    LoggedIn,
    LoggedOut,
    MediaInfo,
    MediaRef,
    MessageAck,
    PairingCode,
    QrCode,
    QuotaSignal,
    event_from_dict,
    event_to_dict,
    event_to_json,
    parse_event,
)

zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)
moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=zones
)
#: Lone surrogates cannot be encoded as UTF-8 JSON; WhatsApp text never holds them.
characters = st.characters(exclude_categories=["Cs"])
texts = st.text(alphabet=characters, max_size=40)
words = st.text(alphabet=characters, min_size=1, max_size=40)
jids = st.from_regex(r"\A[0-9]{5,15}@(s\.whatsapp\.net|g\.us)\Z")
hexes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
media = st.builds(
    MediaInfo,
    mime_type=st.sampled_from(["image/jpeg", "audio/ogg", "application/pdf", "video/mp4"]),
    size=st.none() | st.integers(0, 2**40),
    sha256=st.none() | hexes,
    filename=st.none() | words,
    path=st.none() | st.just(Path("/var/lib/wafleet/media/x.jpg")),
)
events: st.SearchStrategy[EngineEvent] = st.one_of(
    st.builds(
        QrCode,
        payload=words,
        expires_in_s=st.floats(0, 1e6, allow_nan=False, allow_infinity=False),
        at=moments,
    ),
    st.builds(PairingCode, code=words, at=moments),
    st.builds(LoggedIn, jid=jids, at=moments),
    st.builds(LoggedOut, reason=texts, at=moments),
    st.builds(Connected, at=moments),
    st.builds(Disconnected, reason=texts, at=moments),
    st.builds(Conflict, detail=texts, at=moments),
    st.builds(QuotaSignal, code=st.sampled_from([463, 475]), detail=texts, at=moments),
    st.builds(
        InboundMessage,
        message_id=words,
        chat_jid=jids,
        sender_jid=jids,
        text=st.none() | texts,
        media=st.none() | media,
        timestamp=moments,
        at=moments,
    ),
    st.builds(
        MessageAck,
        message_id=words,
        status=st.sampled_from(AckStatus),
        error_code=st.none() | st.integers(-(2**31), 2**31),
        at=moments,
    ),
)


@given(events)
def test_every_event_round_trips(event: EngineEvent) -> None:
    as_json = event_to_json(event)

    assert parse_event(as_json) == event
    assert parse_event(as_json.encode()) == event
    assert event_from_dict(event_to_dict(event)) == event
    assert json.loads(as_json)["type"] == event.type
    assert event.at.tzinfo is UTC


def test_the_type_field_picks_the_model() -> None:
    event = parse_event('{"type": "conflict", "detail": "replaced", "at": "2024-01-01T00:00:00Z"}')

    assert isinstance(event, Conflict)
    with pytest.raises(ValidationError):
        parse_event('{"type": "teleport", "at": "2024-01-01T00:00:00Z"}')
    with pytest.raises(ValidationError):
        EVENT_ADAPTER.validate_python({"type": "quota_signal", "code": 500, "detail": "x"})


def test_times_are_aware_and_normalised_to_utc() -> None:
    at = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))

    assert Connected(at=at).at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert Connected(at=at).at.tzinfo is UTC
    assert Connected().at.tzinfo is UTC
    with pytest.raises(ValidationError):
        Connected(at=datetime(2024, 5, 1, 12, 0))  # naive: refused


def test_events_are_frozen_and_strict() -> None:
    event = Disconnected(reason="x")

    with pytest.raises(ValidationError):
        event.reason = "y"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Disconnected(reason="x", reson="typo")  # type: ignore[call-arg]


def test_ack_status_only_moves_forward() -> None:
    assert AckStatus.SENT.supersedes(None)
    assert AckStatus.READ.supersedes(AckStatus.SENT)
    assert not AckStatus.DELIVERED.supersedes(AckStatus.READ)
    assert not AckStatus.READ.supersedes(AckStatus.READ)
    assert AckStatus.FAILED.supersedes(AckStatus.SENT)
    assert not AckStatus.READ.supersedes(AckStatus.FAILED)


async def test_media_ref_measures_and_hashes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    body = bytes(range(256)) * 9000  # > 1 chunk
    path.write_bytes(body)

    media = await MediaRef.from_file_async(path, "image/jpeg")

    assert media.size == len(body)
    assert media.sha256 == hashlib.sha256(body).hexdigest()
    with pytest.raises(ValidationError):
        MediaRef(path=path, mime_type="jpeg", size=1, sha256=media.sha256)
    with pytest.raises(ValidationError):
        MediaRef(path=path, mime_type="image/jpeg", size=1, sha256="ABC")


@pytest.mark.parametrize(
    ("given_to", "jid"),
    [
        ("+1 555 0100 000", "15550100000@s.whatsapp.net"),
        ("49-151-2345678", "491512345678@s.whatsapp.net"),
        ("1203630@g.us", "1203630@g.us"),
        ("15550100000@s.whatsapp.net", "15550100000@s.whatsapp.net"),
    ],
)
def test_normalize_jid(given_to: str, jid: str) -> None:
    assert normalize_jid(given_to) == jid


@pytest.mark.parametrize("bad", ["", "hello", "@g.us", "123", "+1 555 abc"])
def test_normalize_jid_refuses_garbage(bad: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        normalize_jid(bad)


def test_send_rejected_carries_code_and_retryability() -> None:
    error = SendRejected(475, retryable=False, detail="restricted")

    assert (error.code, error.retryable) == (475, False)
    assert "475" in str(error)
    assert "restricted" in str(error)
