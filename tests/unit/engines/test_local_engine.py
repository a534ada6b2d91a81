"""The whole engine interface, on the local engine, in virtual time."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from session_runner.session.engines.base import (
    Engine,
    EngineError,
    EngineStopped,
    NotReady,
    SendInterrupted,
    SendRejected,
)
from session_runner.session.engines.events import (
    AckStatus,
    Conflict,
    Connected,
    Disconnected,
    InboundMessage,
    LoggedIn,
    LoggedOut,
    MediaRef,
    MessageAck,
    PairingCode,
    QrCode,
    QuotaSignal,
)
from session_runner.session.engines.local import (
    SESSION_FILE,
    LocalEngine,
    LocalEngineOptions,
)
from tests.unit.engines.clock import VirtualClock
from tests.unit.engines.conftest import StartEngine

MESSAGE_ID = re.compile(r"^3EB0[0-9A-F]{16}$")
ACCOUNT = "15550100000@s.whatsapp.net"
PEER = "+49 151 2345678"
PEER_JID = "491512345678@s.whatsapp.net"
FAST_ACKS = {"ack_sent_s": 1.0, "ack_delivered_s": 2.0, "ack_read_s": 3.0}


def acks_of(events: list[MessageAck], message_id: str) -> list[AckStatus]:
    return [ack.status for ack in events if ack.message_id == message_id]


def activity(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- login -----------------------------------------------------------------------


async def test_qr_rotates_until_login(start_engine: StartEngine) -> None:
    sim = await start_engine(qr_rotate_s=20)
    assert len(sim.recorder.of(QrCode)) == 1

    await sim.advance(19.9)
    assert len(sim.recorder.of(QrCode)) == 1
    await sim.advance(0.1)
    assert len(sim.recorder.of(QrCode)) == 2
    await sim.advance(60)

    codes = sim.recorder.of(QrCode)
    assert len(codes) == 5
    assert len({code.payload for code in codes}) == 5
    assert all(code.payload.startswith("2@") and code.expires_in_s == 20 for code in codes)
    seconds = [(code.at - codes[0].at).total_seconds() for code in codes]
    assert seconds == [0, 20, 40, 60, 80]
    assert sim.recorder.types == ["qr_code"] * 5
    assert not sim.engine.ready
    assert sim.engine.session_file is not None
    assert not sim.engine.session_file.exists()


async def test_qr_payloads_follow_the_seed(tmp_path: Path) -> None:
    async def payloads(seed: int, folder: str) -> list[str]:
        clock = VirtualClock()
        engine = LocalEngine(LocalEngineOptions(seed=seed), clock=clock)
        await engine.start(tmp_path / folder)
        stream = engine.events()
        await clock.advance(40)
        await engine.stop()
        return [event.payload async for event in stream if isinstance(event, QrCode)]

    first, again, other = await payloads(1, "a"), await payloads(1, "b"), await payloads(2, "c")
    assert first == again
    assert len(first) == 3
    assert first != other


async def test_approve_login_writes_the_session_file(start_engine: StartEngine) -> None:
    sim = await start_engine()
    sim.new_types()

    sim.engine.approve_login()
    await sim.advance(0)

    assert sim.new_types() == ["logged_in", "connected"]
    assert sim.recorder.of(LoggedIn)[0].jid == ACCOUNT
    assert sim.engine.ready
    assert sim.engine.session_file is not None
    assert json.loads(sim.engine.session_file.read_text())["jid"] == ACCOUNT
    await sim.advance(100)
    assert sim.new_types() == []  # no more QR codes once logged in
    with pytest.raises(EngineError):
        sim.engine.approve_login()


async def test_a_restored_session_needs_no_qr(start_engine: StartEngine, tmp_path: Path) -> None:
    first = await start_engine(tmp_path / "profile")
    first.engine.approve_login()
    await first.advance(0)
    await first.engine.stop()

    second = await start_engine(tmp_path / "profile")

    assert second.recorder.types == ["connected", "logged_in"]
    assert second.recorder.of(LoggedIn)[0].jid == ACCOUNT
    assert second.engine.ready


async def test_an_unreadable_session_file_means_a_new_login(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / SESSION_FILE).write_text("{not json")

    sim = await start_engine(tmp_path / "profile")

    assert sim.recorder.types == ["qr_code"]


async def test_auto_login_after_some_qr_codes(start_engine: StartEngine) -> None:
    sim = await start_engine(qr_rotate_s=20, auto_login_after_s=30)
    await sim.advance(29)
    assert sim.recorder.types == ["qr_code", "qr_code"]

    await sim.advance(1)

    assert sim.recorder.types == ["qr_code", "qr_code", "logged_in", "connected"]
    assert sim.engine.ready


async def test_auto_login_at_once_shows_no_qr(start_engine: StartEngine) -> None:
    sim = await start_engine(auto_login_after_s=0)

    assert sim.recorder.types == ["logged_in", "connected"]
    assert sim.engine.ready


async def test_connect_delay_applies_to_login_and_restore(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    first = await start_engine(tmp_path / "p", auto_login_after_s=0, connect_delay_s=5)
    assert not first.engine.ready
    await first.advance(5)
    assert first.engine.ready
    await first.engine.stop()

    second = await start_engine(tmp_path / "p", connect_delay_s=5)
    assert second.recorder.types == []
    await second.advance(5)
    assert second.recorder.types == ["connected", "logged_in"]


async def test_pairing_code_replaces_the_qr(start_engine: StartEngine) -> None:
    sim = await start_engine()

    code = await sim.engine.request_pairing_code("+1 555 0100 000")
    await sim.advance(100)

    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", code)
    assert sim.recorder.types == ["qr_code", "pairing_code"]
    assert sim.recorder.of(PairingCode)[0].code == code
    sim.engine.approve_login()
    await sim.advance(0)
    assert sim.recorder.types[-2:] == ["logged_in", "connected"]


# -- sending ---------------------------------------------------------------------


async def test_sends_return_ids_and_acks_arrive_in_order(start_engine: StartEngine) -> None:
    sim = await start_engine(auto_login_after_s=0, **FAST_ACKS)
    sim.new_types()

    first = await sim.engine.send_text(PEER, "hello")
    second = await sim.engine.send_text(PEER_JID, "again")
    assert MESSAGE_ID.match(first)
    assert MESSAGE_ID.match(second)
    assert first != second

    await sim.advance(1)
    assert sim.new_types() == ["message_ack", "message_ack"]
    await sim.advance(2)
    await sim.advance(3)

    acks = sim.recorder.of(MessageAck)
    progression = [AckStatus.SENT, AckStatus.DELIVERED, AckStatus.READ]
    assert acks_of(acks, first) == progression
    assert acks_of(acks, second) == progression
    assert all(ack.error_code is None for ack in acks)
    await sim.advance(100)
    assert len(sim.recorder.of(MessageAck)) == 6


async def test_message_ids_follow_the_seed(start_engine: StartEngine, tmp_path: Path) -> None:
    a = await start_engine(tmp_path / "a", auto_login_after_s=0, seed=7)
    b = await start_engine(tmp_path / "b", auto_login_after_s=0, seed=7)
    c = await start_engine(tmp_path / "c", auto_login_after_s=0, seed=8)

    ids_a = [await a.engine.send_text(PEER, "x") for _ in range(3)]
    ids_b = [await b.engine.send_text(PEER, "x") for _ in range(3)]
    ids_c = [await c.engine.send_text(PEER, "x") for _ in range(3)]

    assert ids_a == ids_b
    assert ids_a != ids_c


async def test_recipient_never_online_stops_at_sent(start_engine: StartEngine) -> None:
    sim = await start_engine(auto_login_after_s=0, ack_sent_s=1, ack_delivered_s=None)
    message_id = await sim.engine.send_text(PEER, "hi")

    await sim.advance(1000)

    assert acks_of(sim.recorder.of(MessageAck), message_id) == [AckStatus.SENT]


async def test_failure_rate_one_fails_every_send(start_engine: StartEngine) -> None:
    sim = await start_engine(auto_login_after_s=0, failure_rate=1, failure_error_code=479)
    message_id = await sim.engine.send_text(PEER, "hi")

    await sim.advance(100)

    [ack] = sim.recorder.of(MessageAck)
    assert (ack.message_id, ack.status, ack.error_code) == (message_id, AckStatus.FAILED, 479)


async def test_quota_signal_then_rejections(start_engine: StartEngine) -> None:
    sim = await start_engine(auto_login_after_s=0, quota_after_n=2)
    await sim.engine.send_text(PEER, "1")
    await sim.engine.send_text(PEER, "2")

    for _ in range(2):
        with pytest.raises(SendRejected) as rejected:
            await sim.engine.send_text(PEER, "3")
        assert rejected.value.code == 475
        assert rejected.value.retryable is False
    await sim.advance(0)

    [signal] = sim.recorder.of(QuotaSignal)
    assert signal.code == 475
    assert sim.engine.sent_count == 2


async def test_an_idempotency_key_sends_once(start_engine: StartEngine) -> None:
    sim = await start_engine(auto_login_after_s=0, **FAST_ACKS)

    first = await sim.engine.send_text(PEER, "hi", idempotency_key="k1")
    again = await sim.engine.send_text(PEER, "hi", idempotency_key="k1")
    other = await sim.engine.send_text(PEER, "hi", idempotency_key="k2")
    await sim.advance(1)

    assert first == again != other
    assert sim.engine.sent_count == 2
    assert len(sim.recorder.of(MessageAck)) == 2


async def test_send_media_checks_the_file_and_audio_is_played(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    sim = await start_engine(auto_login_after_s=0, **FAST_ACKS)
    voice = tmp_path / "voice.ogg"
    voice.write_bytes(b"OggS" + bytes(1000))
    media = await MediaRef.from_file_async(voice, "audio/ogg")

    message_id = await sim.engine.send_media(PEER, media, caption="listen")
    await sim.advance(100)

    assert acks_of(sim.recorder.of(MessageAck), message_id) == [
        AckStatus.SENT,
        AckStatus.DELIVERED,
        AckStatus.READ,
        AckStatus.PLAYED,
    ]
    voice.write_bytes(b"changed")
    with pytest.raises(ValueError, match="bytes"):
        await sim.engine.send_media(PEER, media)
    voice.unlink()
    with pytest.raises(ValueError, match="does not exist"):
        await sim.engine.send_media(PEER, media)


async def test_send_before_login_is_not_ready(start_engine: StartEngine) -> None:
    sim = await start_engine()

    with pytest.raises(NotReady):
        await sim.engine.send_text(PEER, "too early")
    sim.engine.approve_login()
    await sim.advance(0)
    with pytest.raises(ValueError, match="phone number or JID"):
        await sim.engine.send_text("not a number", "x")


# -- inbound, connection ---------------------------------------------------------


async def test_inbound_messages(start_engine: StartEngine) -> None:
    sim = await start_engine(auto_login_after_s=0)

    message_id = sim.engine.inject_inbound(PEER, "hello there")
    group = sim.engine.inject_inbound(PEER, "all", chat_jid="1203630@g.us")
    await sim.advance(0)

    direct, in_group = sim.recorder.of(InboundMessage)
    assert (direct.message_id, direct.sender_jid, direct.chat_jid, direct.text) == (
        message_id,
        PEER_JID,
        PEER_JID,
        "hello there",
    )
    assert direct.timestamp == direct.at
    assert (in_group.message_id, in_group.chat_jid) == (group, "1203630@g.us")


async def test_disconnect_holds_messages_and_acks_until_reconnect(
    start_engine: StartEngine,
) -> None:
    sim = await start_engine(auto_login_after_s=0, **FAST_ACKS)
    message_id = await sim.engine.send_text(PEER, "hi")
    sim.new_types()

    sim.engine.inject_disconnect("network down")
    assert not sim.engine.ready
    with pytest.raises(NotReady):
        await sim.engine.send_text(PEER, "while down")
    inbound = sim.engine.inject_inbound(PEER, "sent while you were away")
    await sim.advance(100)
    assert sim.new_types() == ["disconnected"]
    assert sim.recorder.of(Disconnected)[0].reason == "network down"

    sim.engine.inject_reconnect()
    await sim.advance(100)

    assert sim.engine.ready
    assert sim.new_types()[:2] == ["connected", "inbound_message"]
    assert sim.recorder.of(InboundMessage)[0].message_id == inbound
    assert acks_of(sim.recorder.of(MessageAck), message_id) == [
        AckStatus.SENT,
        AckStatus.DELIVERED,
        AckStatus.READ,
    ]


async def test_conflict_is_final(start_engine: StartEngine, tmp_path: Path) -> None:
    log = tmp_path / "activity.jsonl"
    sim = await start_engine(auto_login_after_s=0, activity_log=log, **FAST_ACKS)
    await sim.engine.send_text(PEER, "before")
    sim.new_types()

    sim.engine.inject_conflict()
    await sim.advance(0)

    assert sim.new_types() == ["conflict", "disconnected"]
    assert "replaced" in sim.recorder.of(Conflict)[0].detail
    assert not sim.engine.ready
    assert sim.engine.phase == "conflicted"
    with pytest.raises(NotReady):
        await sim.engine.send_text(PEER, "after")
    with pytest.raises(EngineError):
        sim.engine.inject_reconnect()
    with pytest.raises(NotReady):
        sim.engine.inject_inbound(PEER, "lost to the other client")
    await sim.advance(1000)
    assert sim.new_types() == []  # no reconnect, and no acks: the other client has them
    assert [line["event"] for line in activity(log)] == ["active", "inactive"]

    await sim.engine.stop()
    assert [line["event"] for line in activity(log)] == ["active", "inactive"]
    await asyncio.wait_for(sim.recorder.task, 5)


async def test_logout_deletes_the_session_and_auto_login_comes_back(
    start_engine: StartEngine,
) -> None:
    sim = await start_engine(auto_login_after_s=30)
    await sim.advance(30)
    session_file = sim.engine.session_file
    assert session_file is not None
    assert session_file.exists()
    sim.new_types()

    sim.engine.inject_logout("unlinked")
    await sim.advance(0)

    assert not session_file.exists()
    assert sim.new_types() == ["logged_out", "disconnected", "qr_code"]
    assert sim.recorder.of(LoggedOut)[0].reason == "unlinked"
    await sim.advance(30)
    assert sim.new_types() == ["qr_code", "logged_in", "connected"]
    assert session_file.exists()


async def test_logout_then_scan_again(start_engine: StartEngine) -> None:
    sim = await start_engine()
    sim.engine.approve_login()
    await sim.advance(0)
    sim.new_types()

    sim.engine.inject_logout()
    await sim.advance(0)

    assert sim.new_types() == ["logged_out", "disconnected", "qr_code"]
    assert sim.engine.session_file is not None
    assert not sim.engine.session_file.exists()
    assert not sim.engine.ready
    with pytest.raises(NotReady):
        await sim.engine.send_text(PEER, "x")
    sim.engine.approve_login()
    await sim.advance(0)
    assert sim.engine.ready
    assert sim.engine.session_file.exists()


# -- stop, kill, activity --------------------------------------------------------


async def test_stop_is_graceful_and_idempotent(start_engine: StartEngine) -> None:
    sim = await start_engine(auto_login_after_s=0, send_latency_s=5)
    pending = asyncio.create_task(sim.engine.send_text(PEER, "in flight"))
    await sim.advance(1)

    await sim.engine.stop()
    await sim.engine.stop()

    with pytest.raises(SendInterrupted):
        await pending
    await asyncio.wait_for(sim.recorder.task, 5)
    assert sim.recorder.types[-1] == "disconnected"
    assert sim.recorder.of(Disconnected)[-1].reason == "stopped"
    with pytest.raises(EngineStopped):
        await sim.engine.send_text(PEER, "after stop")
    sim.engine.kill()  # no-op after stop
    assert sim.engine.phase == "stopped"


async def test_kill_is_synchronous_and_ends_everything(clock: VirtualClock, tmp_path: Path) -> None:
    log = tmp_path / "activity.jsonl"
    options = LocalEngineOptions(
        auto_login_after_s=0, send_latency_s=5, activity_log=log, identity="pod-0"
    )
    engine = LocalEngine(options, clock=clock)
    await engine.start(tmp_path / "session")
    stream = engine.events()
    await clock.advance(0)
    assert engine.ready
    pending = asyncio.create_task(engine.send_text(PEER, "in flight"))
    await clock.advance(1)
    engine.inject_inbound(PEER, "not yet consumed")

    assert not inspect.iscoroutinefunction(LocalEngine.kill)
    engine.kill()
    # Everything below holds before the loop runs again: kill() did it all.
    assert not engine.ready
    assert [line["event"] for line in activity(log)] == ["active", "inactive"]

    with pytest.raises(StopAsyncIteration):  # queued events are dropped, the stream ends
        await anext(stream)
    with pytest.raises(SendInterrupted):
        await pending
    with pytest.raises(EngineStopped):
        await engine.send_text(PEER, "after kill")
    await clock.advance(1000)
    assert clock.sleepers == 0  # no timer left running
    engine.kill()
    await engine.stop()
    assert len(activity(log)) == 2


async def test_activity_log_lines_in_order(clock: VirtualClock, tmp_path: Path) -> None:
    log = tmp_path / "activity.jsonl"
    first = LocalEngine(LocalEngineOptions(activity_log=log, identity="pod-a"), clock=clock)
    second = LocalEngine(LocalEngineOptions(activity_log=log, identity="pod-b"), clock=clock)

    await first.start(tmp_path / "s")
    first.kill()
    await second.start(tmp_path / "s")
    await second.stop()

    lines = activity(log)
    assert [(line["event"], line["identity"]) for line in lines] == [
        ("active", "pod-a"),
        ("inactive", "pod-a"),
        ("active", "pod-b"),
        ("inactive", "pod-b"),
    ]
    assert {line["pid"] for line in lines} == {os.getpid()}
    times = [line["t"] for line in lines]
    assert times == sorted(times)


def test_activity_line_survives_sigkill(tmp_path: Path) -> None:
    """The harness's situation: a runner SIGKILLed right after its engine became active."""
    log = tmp_path / "activity.jsonl"
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from pathlib import Path
        from session_runner.session.engines.local import LocalEngine, LocalEngineOptions

        async def main():
            engine = LocalEngine(LocalEngineOptions(activity_log=Path({str(log)!r}), identity="child"))
            await engine.start(Path({str(tmp_path / "session")!r}))
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).parents[3], timeout=60, check=False
    )

    assert child.returncode == -9
    [line] = activity(log)
    assert (line["event"], line["identity"]) == ("active", "child")
    assert line["pid"] != os.getpid()


# -- the rest of the contract ----------------------------------------------------


async def test_one_consumer_and_one_start(start_engine: StartEngine, tmp_path: Path) -> None:
    sim = await start_engine()

    assert isinstance(sim.engine, Engine)
    assert LocalEngine.name == "local"
    with pytest.raises(EngineError, match="one consumer"):
        sim.engine.events()
    with pytest.raises(EngineError, match="starts once"):
        await sim.engine.start(tmp_path / "other")


async def test_quiesce_holds_back_session_writes(start_engine: StartEngine) -> None:
    sim = await start_engine()
    session_file = sim.engine.session_file
    assert session_file is not None

    async with sim.engine.quiesce():
        sim.engine.approve_login()
        await sim.advance(10)
        assert not session_file.exists()
        assert "logged_in" not in sim.recorder.types
    await sim.advance(0)

    assert session_file.exists()
    assert sim.engine.ready


async def test_events_carry_the_clock_time(start_engine: StartEngine, clock: VirtualClock) -> None:
    sim = await start_engine(auto_login_after_s=0)
    await sim.advance(42)
    sim.engine.inject_inbound(PEER, "x")
    await sim.advance(0)

    assert sim.recorder.of(Connected)[0].at == clock.now() - timedelta(seconds=42)
    assert sim.recorder.of(InboundMessage)[0].at == clock.now()
