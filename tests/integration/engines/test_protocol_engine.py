"""ProtocolEngine with the real neonize package (whatsmeow in Go), without network.

WhatsApp cannot be reached here: `connect()` fails at once with "failed to
dial". What runs for real: the Go client, its SQLite store in the session dir,
the retry loop, stop and kill, the neonize thread, sends reaching Go (and
being refused there), and neonize's own event objects fed through the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from neonize.aioze import events as ev
from neonize.proto import Neonize_pb2 as proto
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize.utils.jid import build_jid

from session_runner.session.engines.base import EngineStopped, NotReady, SendInterrupted
from session_runner.session.engines.events import EngineEvent, MediaRef
from session_runner.session.engines.protocol import (
    STORE_FILE,
    ProtocolEngine,
    ProtocolEngineSettings,
    read_media,
)
from session_runner.session.snapshot.staging import sqlite_backup

ROOT = Path(__file__).resolve().parents[3]
FAST = ProtocolEngineSettings(reconnect_backoff_s=0.05, reconnect_backoff_max_s=0.2)
ME = build_jid("4915112345678")


@dataclass
class Recorder:
    """Consumes the engine's events in the background so tests can wait for them."""

    engine: ProtocolEngine
    events: list[EngineEvent] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        async def consume() -> None:
            async for event in self.engine.events():
                self.events.append(event)
            self.done.set()

        self.task = asyncio.get_running_loop().create_task(consume())

    def of(self, kind: str) -> list[Any]:
        return [event for event in self.events if event.type == kind]

    async def wait_for(self, predicate: Callable[[], Any], what: str, within: float = 10.0) -> Any:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if result := predicate():
                return result
            await asyncio.sleep(0.01)
        kinds = [event.type for event in self.events]
        raise AssertionError(f"timed out waiting for {what}; events so far: {kinds}")


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[ProtocolEngine, Recorder]]:
    engine = ProtocolEngine(phone_number="+49 151 12345678", options=FAST)
    recorder = Recorder(engine)
    recorder.start()
    await engine.start(tmp_path / "session")
    yield engine, recorder
    await engine.stop()
    engine.kill()


def _non_daemon_threads() -> list[str]:
    """Threads that would hold interpreter exit, except the test loop's own idle executor."""
    return [
        thread.name
        for thread in threading.enumerate()
        if not thread.daemon
        and thread is not threading.main_thread()
        and not thread.name.startswith("asyncio_")
    ]


async def test_start_creates_the_store_and_retries_the_dial(
    running: tuple[ProtocolEngine, Recorder], tmp_path: Path
) -> None:
    engine, recorder = running
    store = tmp_path / "session" / STORE_FILE

    assert engine.store_path == store.resolve()
    await recorder.wait_for(lambda: len(recorder.of("disconnected")) >= 2, "two failed dials")
    assert "failed to dial" in recorder.of("disconnected")[0].reason
    assert engine.connect_attempts >= 2
    assert not engine.ready
    assert engine.phase == "running"
    with contextlib.closing(sqlite3.connect(store)) as db:
        rows = db.execute("select name from sqlite_master where type = 'table'").fetchall()
    tables = {name for (name,) in rows}
    assert {"whatsmeow_device", "whatsmeow_sessions", "whatsmeow_pre_keys"} <= tables


async def test_stop_is_clean_and_leaves_no_blocking_thread(tmp_path: Path) -> None:
    before = set(_non_daemon_threads())
    engine = ProtocolEngine(options=FAST)
    recorder = Recorder(engine)
    recorder.start()
    await engine.start(tmp_path / "session")
    await recorder.wait_for(lambda: recorder.of("disconnected"), "a failed dial")

    client = engine._client
    assert client._stop_finalizer.alive  # neonize would call Go's Stop when it is collected
    await engine.stop()

    await asyncio.wait_for(recorder.done.wait(), 5)
    assert engine.phase == "stopped"
    assert not client._stop_finalizer.alive  # stopped by us: no second Stop at GC time
    attempts = engine.connect_attempts
    await asyncio.sleep(0.3)
    assert engine.connect_attempts == attempts, "no reconnect after stop"
    assert set(_non_daemon_threads()) <= before
    neonize_threads = [t for t in threading.enumerate() if t.name.startswith("neonize")]
    assert all(thread.daemon for thread in neonize_threads)
    await engine.stop()  # idempotent
    engine.kill()  # no-op after stop
    assert engine.phase == "stopped"


async def test_kill_is_immediate_and_final(running: tuple[ProtocolEngine, Recorder]) -> None:
    engine, recorder = running
    await recorder.wait_for(lambda: recorder.of("disconnected"), "a failed dial")
    engine.handle_neonize_event(ev.ConnectedEv(status=True))
    assert engine.ready

    started = time.monotonic()
    engine.kill()
    elapsed = time.monotonic() - started

    assert elapsed < 0.5, f"kill() took {elapsed:.3f} s"
    assert engine.phase == "killed"
    assert not engine._client._stop_finalizer.alive  # no second Stop at GC time
    assert not engine.ready
    await asyncio.wait_for(recorder.done.wait(), 1)
    seen = len(recorder.events)
    engine.handle_neonize_event(ev.ReceiptEv(MessageIDs=["M1"], Type=proto.Receipt.READ))
    with pytest.raises(EngineStopped):
        await engine.send_text("+4915100000001", "hi")
    attempts = engine.connect_attempts
    await asyncio.sleep(0.3)
    assert engine.connect_attempts == attempts, "no reconnect after kill"
    assert len(recorder.events) == seen


async def test_neonize_events_through_the_engine(running: tuple[ProtocolEngine, Recorder]) -> None:
    engine, recorder = running
    engine.handle_neonize_event(b"2@qr-payload,key,adv")
    engine.handle_neonize_event(ev.PairStatusEv(ID=ME, Status=proto.PairStatus.SUCCESS))
    engine.handle_neonize_event(ev.ConnectedEv(status=True))
    assert engine.ready
    engine.handle_neonize_event(b"2@late-qr")  # logged in: no more QR codes
    engine.handle_neonize_event(ev.ReceiptEv(MessageIDs=["M1"], Type=proto.Receipt.READ))
    engine.handle_neonize_event(ev.ReceiptEv(MessageIDs=["M1"], Type=proto.Receipt.DELIVERED))
    source = proto.MessageSource(Chat=ME, Sender=ME)
    engine.handle_neonize_event(
        ev.MessageEv(
            Info=proto.MessageInfo(ID="IN1", Timestamp=1_790_000_000, MessageSource=source),
            Message=e2e.Message(conversation="hello"),
        )
    )
    engine.handle_neonize_event(ev.DisconnectedEv(status=True))
    assert not engine.ready
    engine.handle_neonize_event(ev.ConnectedEv(status=True))
    assert engine.ready

    await recorder.wait_for(lambda: len(recorder.of("connected")) == 2, "a reconnect")
    assert [event.payload for event in recorder.of("qr_code")] == ["2@qr-payload,key,adv"]
    assert [event.jid for event in recorder.of("logged_in")] == ["4915112345678@s.whatsapp.net"]
    assert [(a.message_id, a.status) for a in recorder.of("message_ack")] == [("M1", "read")]
    assert recorder.of("inbound_message")[0].text == "hello"


async def test_go_callbacks_reach_the_engine_through_neonize_dispatch(
    running: tuple[ProtocolEngine, Recorder],
) -> None:
    """The real hop: a foreign thread (as Go's) → neonize's dispatch → neonize loop → ours."""
    engine, recorder = running
    client = engine._client
    keep: list[Any] = []

    def go_callback() -> None:
        qr = ctypes.create_string_buffer(b"2@from-go,key,adv")
        keep.append(qr)
        client._NewAClient__onQr(0, ctypes.addressof(qr))
        data = ev.ConnectedEv(status=True).SerializeToString()
        buffer = ctypes.create_string_buffer(data, len(data))
        keep.append(buffer)
        client.event.execute(0, ctypes.addressof(buffer), len(data), 3)  # 3: ConnectedEv

    thread = threading.Thread(target=go_callback)
    thread.start()
    thread.join()

    await recorder.wait_for(lambda: recorder.of("connected"), "connected from the Go side")
    assert [event.payload for event in recorder.of("qr_code")] == ["2@from-go,key,adv"]
    assert engine.ready


async def test_restored_session_connects_without_pairing(
    running: tuple[ProtocolEngine, Recorder],
) -> None:
    engine, recorder = running
    engine.handle_neonize_event(ev.ConnectedEv(status=True))

    await recorder.wait_for(lambda: recorder.of("connected"), "connected")
    assert [event.jid for event in recorder.of("logged_in")] == ["4915112345678@s.whatsapp.net"]
    assert engine.ready


async def test_conflict_fences_the_engine(running: tuple[ProtocolEngine, Recorder]) -> None:
    engine, recorder = running
    engine.handle_neonize_event(ev.ConnectedEv(status=True))

    engine.handle_neonize_event(ev.StreamReplacedEv())

    assert engine.phase == "conflicted"
    assert not engine.ready
    assert not engine._client._stop_finalizer.alive  # no second Stop at GC time
    await recorder.wait_for(lambda: recorder.of("conflict"), "conflict")
    kinds = [event.type for event in recorder.events]
    assert kinds[kinds.index("conflict") + 1] == "disconnected"
    engine.handle_neonize_event(ev.ConnectedEv(status=True))
    assert not engine.ready, "never ready again"
    with pytest.raises(NotReady):
        await engine.send_text("+4915100000001", "hi")
    attempts = engine.connect_attempts
    await asyncio.sleep(0.3)
    assert engine.connect_attempts == attempts, "never reconnects after a conflict"


async def test_logged_out(running: tuple[ProtocolEngine, Recorder]) -> None:
    engine, recorder = running
    engine.handle_neonize_event(ev.ConnectedEv(status=True))

    engine.handle_neonize_event(ev.LoggedOutEv(OnConnect=False, Reason=proto.LOGGED_OUT))

    await recorder.wait_for(lambda: recorder.of("logged_out"), "logged out")
    assert recorder.events[-1].type == "disconnected"
    assert not engine.ready


async def test_sends_reach_go_and_are_refused_there(
    running: tuple[ProtocolEngine, Recorder], tmp_path: Path
) -> None:
    engine, _ = running
    with pytest.raises(NotReady):
        await engine.send_text("+4915100000001", "not ready yet")
    engine.handle_neonize_event(ev.ConnectedEv(status=True))  # pretend: Go is not connected

    with pytest.raises(NotReady, match=r"device JID|not connected"):
        await engine.send_text("+4915100000001", "hi")
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(4096))
    media = await MediaRef.from_file_async(photo, "image/png")
    with pytest.raises(NotReady, match="not connected"):
        await engine.send_media("120363000000000001@g.us", media, caption="look")
    with pytest.raises(ValueError, match="not allowed"):
        await engine.send_media("+4915100000001", media.model_copy(update={"mime_type": "x/y"}))


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_stop_and_kill_interrupt_a_send_in_flight(
    running: tuple[ProtocolEngine, Recorder], how: str
) -> None:
    engine, _ = running
    engine.handle_neonize_event(ev.ConnectedEv(status=True))

    async def never_answers(*_: Any) -> Any:
        await asyncio.sleep(30)

    engine._client.send_message = never_answers  # a Go call that hangs
    send = asyncio.ensure_future(engine.send_text("+4915100000001", "hi"))
    await asyncio.sleep(0.05)
    if how == "stop":
        await engine.stop()
    else:
        engine.kill()

    with pytest.raises(SendInterrupted):
        await send


async def test_pairing_code_needs_the_websocket(running: tuple[ProtocolEngine, Recorder]) -> None:
    engine, _ = running
    with pytest.raises(NotReady, match="pairing code"):
        await engine.request_pairing_code("+4915112345678")


async def test_quiesce_is_a_no_op_and_the_live_store_backs_up(
    running: tuple[ProtocolEngine, Recorder], tmp_path: Path
) -> None:
    """No downtime: the snapshot layer's online backup copies the store Go holds open."""
    engine, recorder = running
    await recorder.wait_for(lambda: recorder.of("disconnected"), "the store to exist")
    assert engine.store_path is not None
    copy = tmp_path / "copy.sqlite3"

    async with engine.quiesce():
        assert engine.phase == "running"
        await asyncio.to_thread(sqlite_backup, engine.store_path, copy)

    assert engine.phase == "running"
    with contextlib.closing(sqlite3.connect(copy)) as db:
        assert db.execute("select count(*) from whatsmeow_device").fetchone() == (0,)


def test_read_media_checks(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 3000)
    media = MediaRef.from_file(path, "application/octet-stream")
    families = ("application",)

    assert read_media(media, max_bytes=10_000, families=families) == b"x" * 3000
    with pytest.raises(ValueError, match="over the"):
        read_media(media, max_bytes=100, families=families)
    path.write_bytes(b"y" * 3000)
    with pytest.raises(ValueError, match="changed"):
        read_media(media, max_bytes=10_000, families=families)
    path.unlink()
    with pytest.raises(ValueError, match="does not exist"):
        read_media(media, max_bytes=10_000, families=families)


def test_a_process_that_never_stops_its_engine_still_exits(tmp_path: Path) -> None:
    """Go calls run on daemon threads: a forgotten engine does not hold interpreter exit."""
    script = textwrap.dedent(
        f"""
        import asyncio, pathlib
        from session_runner.session.engines.protocol import ProtocolEngine, ProtocolEngineSettings

        async def main():
            engine = ProtocolEngine(options=ProtocolEngineSettings(reconnect_backoff_s=0.05))
            await engine.start(pathlib.Path({str(tmp_path / "s")!r}))
            await asyncio.sleep(0.2)
            print("attempts", engine.connect_attempts)

        asyncio.run(main())
        """
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=20
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert "attempts" in result.stdout
    assert time.monotonic() - started < 15
    assert (tmp_path / "s" / STORE_FILE).exists()
