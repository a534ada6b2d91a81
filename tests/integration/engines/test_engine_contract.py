"""One contract, every engine: what `session_runner/session/runner.py` relies on.

Each test runs over the three engines, each against its stand-in for
WhatsApp: the local engine's simulated peer (always), the browser engine
against the stand-in WhatsApp Web on 127.0.0.1 (Chromium present), the
protocol engine with real neonize/whatsmeow and no network, Go's answers to a
send played by a fake of neonize's client call (as test_protocol_engine.py
does). A `Driver` is the only engine-specific part: how to make the engine
and how "the phone" logs it in; everything asserted is the contract of
`engines/base.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from session_runner.session.engines.base import Engine, EngineStopped, NotReady, SendInterrupted
from session_runner.session.engines.events import AckStatus, EngineEvent
from session_runner.session.engines.local import LocalEngine, LocalEngineOptions

PEER = "+1 555 0100 001"


class Driver(Protocol):
    """The engine-specific half of a contract test."""

    def make(self) -> Engine: ...

    async def log_in(self, engine: Engine) -> None:
        """The phone approves the login (scan, pairing, or Go's PairStatus)."""
        ...

    def hold_sends(self, engine: Engine) -> Any:
        """Make the next send hang in flight (an awaitable to run, or None)."""
        ...


@dataclass
class Recorder:
    engine: Engine
    events: list[EngineEvent] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        async def consume() -> None:
            async for event in self.engine.events():
                self.events.append(event)

        self.task = asyncio.get_running_loop().create_task(consume())

    def types(self) -> list[str]:
        return [event.type for event in self.events]

    async def wait_for(self, predicate: Callable[[], Any], what: str, within: float = 20) -> Any:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if result := predicate():
                return result
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; events: {self.types()}")

    async def ended(self) -> None:
        assert self.task is not None
        await asyncio.wait_for(self.task, 10)


class LocalDriver:
    def make(self) -> Engine:
        return LocalEngine(
            LocalEngineOptions(
                qr_rotate_s=0.1, ack_sent_s=0.01, ack_delivered_s=0.01, ack_read_s=0.01
            )
        )

    async def log_in(self, engine: Engine) -> None:
        assert isinstance(engine, LocalEngine)
        engine.approve_login()

    def hold_sends(self, engine: Engine) -> Any:
        return None  # set in make_slow


class BrowserDriver:
    def __init__(self, standin: Any) -> None:
        self.standin = standin

    def make(self) -> Engine:
        return self.standin.engine()  # type: ignore[no-any-return]

    async def log_in(self, engine: Engine) -> None:
        from tests.integration.engines.conftest import approve

        await approve(engine)  # type: ignore[arg-type]

    def hold_sends(self, engine: Engine) -> Any:
        page = engine.page  # type: ignore[attr-defined]
        return page.evaluate("() => window.__standin.holdSends()")


class ProtocolDriver:
    """Real neonize; Go's send answers played by a fake of its `send_message`."""

    def __init__(self) -> None:
        from session_runner.session.engines.protocol import ProtocolEngine, ProtocolEngineSettings

        self.settings = ProtocolEngineSettings(
            reconnect_backoff_s=0.05, reconnect_backoff_max_s=0.2
        )
        self.engine_type = ProtocolEngine
        self.ids = itertools.count(1)
        self.sent: list[Any] = []
        self.hold = False

    def make(self) -> Engine:
        return self.engine_type(phone_number="+15550100000", options=self.settings)

    async def log_in(self, engine: Engine) -> None:
        from neonize.aioze import events as ev
        from neonize.proto import Neonize_pb2 as proto
        from neonize.utils.jid import build_jid

        client = engine._client  # type: ignore[attr-defined]

        async def send_message(to: Any, message: Any) -> Any:
            if self.hold:
                await asyncio.sleep(60)
            self.sent.append((to, message))
            return proto.SendResponse(ID=f"3EB0{next(self.ids):016X}")

        client.send_message = send_message
        engine.handle_neonize_event(  # type: ignore[attr-defined]
            ev.PairStatusEv(ID=build_jid("15550100000"), Status=proto.PairStatus.SUCCESS)
        )
        engine.handle_neonize_event(ev.ConnectedEv(status=True))  # type: ignore[attr-defined]

    def hold_sends(self, engine: Engine) -> Any:
        self.hold = True
        return None


def _driver(kind: str, request: pytest.FixtureRequest) -> Driver:
    if kind == "local":
        return LocalDriver()
    if kind == "browser":
        return BrowserDriver(request.getfixturevalue("standin"))
    pytest.importorskip("neonize")
    return ProtocolDriver()


@pytest.fixture(
    params=[
        "local",
        pytest.param("browser", marks=pytest.mark.chromium),
        "protocol",
    ]
)
def driver(request: pytest.FixtureRequest) -> Driver:
    return _driver(request.param, request)


@contextlib.asynccontextmanager
async def started(driver: Driver, session_dir: Path) -> AsyncIterator[tuple[Engine, Recorder]]:
    engine = driver.make()
    recorder = Recorder(engine)
    recorder.start()
    await engine.start(session_dir)
    try:
        yield engine, recorder
    finally:
        await engine.stop()
        engine.kill()
        with contextlib.suppress(Exception):
            await recorder.ended()


async def ready(driver: Driver, engine: Engine, recorder: Recorder) -> None:
    await driver.log_in(engine)
    await recorder.wait_for(lambda: engine.ready, "ready")


# -- the contract ---------------------------------------------------------------------


async def test_start_login_ready(driver: Driver, tmp_path: Path) -> None:
    """Not ready until logged in and connected; LoggedIn and Connected once each; sends wait."""
    async with started(driver, tmp_path / "s") as (engine, recorder):
        assert not engine.ready
        with pytest.raises(NotReady):
            await engine.send_text(PEER, "too early")
        await ready(driver, engine, recorder)
        await recorder.wait_for(lambda: "connected" in recorder.types(), "connected")
        assert recorder.types().count("logged_in") == 1
        assert recorder.types().count("connected") == 1
        assert [e.jid for e in recorder.events if e.type == "logged_in"] == [
            "15550100000@s.whatsapp.net"
        ]
        with pytest.raises(ValueError, match="phone number or JID"):
            await engine.send_text("not a number", "x")
    assert recorder.events[-1].type == "disconnected"
    assert recorder.events[-1].reason == "stopped"  # type: ignore[union-attr]


async def test_one_start_and_one_consumer(driver: Driver, tmp_path: Path) -> None:
    async with started(driver, tmp_path / "s") as (engine, _):
        with pytest.raises(Exception, match="starts once"):
            await engine.start(tmp_path / "s")
        with pytest.raises(Exception, match="one consumer"):
            engine.events()


async def test_idempotent_sends_and_ordered_acks(driver: Driver, tmp_path: Path) -> None:
    """Same key → same id, sent once; acks per id only move forward."""
    async with started(driver, tmp_path / "s") as (engine, recorder):
        await ready(driver, engine, recorder)
        first, again = await asyncio.gather(
            engine.send_text(PEER, "hi", idempotency_key="k1"),
            engine.send_text(PEER, "hi", idempotency_key="k1"),
        )
        later = await engine.send_text(PEER, "hi", idempotency_key="k1")
        other = await engine.send_text(PEER, "hi", idempotency_key="k2")
        assert first == again == later != other
        await recorder.wait_for(
            lambda: [e for e in recorder.events if getattr(e, "message_id", None) == first],
            "an ack for the first message",
        )
        await asyncio.sleep(0.3)
        for message_id in (first, other):
            acks = [
                e.status  # type: ignore[union-attr]
                for e in recorder.events
                if e.type == "message_ack" and e.message_id == message_id  # type: ignore[union-attr]
            ]
            assert acks
            assert all(b.supersedes(a) for a, b in itertools.pairwise(acks))
            assert acks.count(AckStatus.SENT) <= 1
        if isinstance(driver, ProtocolDriver):
            assert len(driver.sent) == 2  # k1 once, k2 once


async def test_kill_is_immediate_and_final(driver: Driver, tmp_path: Path) -> None:
    """kill(): synchronous, the stream ends, a send in flight is interrupted, nothing after."""
    async with started(driver, tmp_path / "s") as (engine, recorder):
        await ready(driver, engine, recorder)
        if isinstance(engine, LocalEngine):
            pytest.skip("the local engine's in-flight sends are covered in test_local_engine")
        hold = driver.hold_sends(engine)
        if hold is not None:
            await hold
        send = asyncio.ensure_future(engine.send_text(PEER, "into the void"))
        await asyncio.sleep(0.3)
        assert not send.done()
        engine.kill()
        assert not engine.ready
        with pytest.raises(SendInterrupted):
            await send
        await recorder.ended()
        with pytest.raises(EngineStopped):
            await engine.send_text(PEER, "after kill")
        engine.kill()  # idempotent


async def test_stop_is_graceful_and_idempotent(driver: Driver, tmp_path: Path) -> None:
    engine = driver.make()
    recorder = Recorder(engine)
    recorder.start()
    await engine.start(tmp_path / "s")
    await ready(driver, engine, recorder)
    await asyncio.gather(engine.stop(), engine.stop())
    await recorder.ended()
    assert recorder.events[-1].type == "disconnected"
    with pytest.raises(EngineStopped):
        await engine.send_text(PEER, "after stop")
    engine.kill()  # a no-op after stop
    await engine.stop()


async def test_quiesce_leaves_the_engine_ready(driver: Driver, tmp_path: Path) -> None:
    """Inside quiesce() the session dir is still; afterwards the engine is ready again."""
    async with started(driver, tmp_path / "s") as (engine, recorder):
        await ready(driver, engine, recorder)
        async with engine.quiesce():
            assert (tmp_path / "s").is_dir()
        await recorder.wait_for(lambda: engine.ready, "ready after quiesce")
