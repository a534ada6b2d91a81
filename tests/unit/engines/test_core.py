"""The engine core's pure and bookkeeping parts: backoff, ack order, idempotency, fence, phases."""

from __future__ import annotations

import asyncio
import logging

import pytest

from session_runner.session.engines.base import (
    EngineError,
    EngineStopped,
    NotReady,
    SendInterrupted,
)
from session_runner.session.engines.core import Backoff, EngineCore, Phase
from session_runner.session.engines.events import (
    AckStatus,
    Conflict,
    Connected,
    Disconnected,
    EngineEvent,
    LoggedIn,
    MessageAck,
    QrCode,
)

log = logging.getLogger(__name__)


@pytest.mark.parametrize(
    ("initial", "maximum", "first", "delays"),
    [
        (1.0, 60.0, None, [1, 2, 4, 8, 16, 32, 60, 60]),
        (1.0, 5.0, None, [1, 2, 4, 5, 5]),
        (1.0, 60.0, 0.0, [0, 1, 2, 4]),  # a restart on purpose: at once, then back off
        (0.2, 0.3, None, [0.2, 0.3, 0.3]),
    ],
)
def test_backoff(initial: float, maximum: float, first: float | None, delays: list[float]) -> None:
    backoff = Backoff(initial, maximum, first=first)
    assert [backoff.next() for _ in delays] == pytest.approx(delays)


def test_backoff_resets_after_success() -> None:
    backoff = Backoff(1, 60)
    backoff.next(), backoff.next(), backoff.next()
    backoff.reset()
    assert backoff.next() == 1


def drain(core: EngineCore) -> list[EngineEvent]:
    core.stream.close(drop_pending=False)
    events: list[EngineEvent] = []
    queue = core.stream._queue
    while not queue.empty():
        if (event := queue.get_nowait()) is not None:
            events.append(event)
    return events


async def test_readiness_and_events_once_per_transition() -> None:
    core = EngineCore("test engine", log, fallback_jid="1555@s.whatsapp.net")
    core.begin()
    with pytest.raises(EngineError, match="starts once"):
        core.begin()
    core.apply(QrCode(payload="2@a", expires_in_s=20))
    core.apply(Connected())  # a restored session: LoggedIn first, from the fallback
    core.apply(Connected())
    core.apply(QrCode(payload="2@late", expires_in_s=20))  # logged in: dropped
    assert core.ready
    core.apply(Disconnected(reason="connection lost"))
    core.apply(Disconnected(reason="connection lost"))  # already down: noise
    core.apply(Disconnected(reason="connect failure: 401"))  # a reason worth telling
    assert not core.ready
    assert [(e.type, getattr(e, "jid", None)) for e in drain(core)] == [
        ("qr_code", None),
        ("logged_in", "1555@s.whatsapp.net"),
        ("connected", None),
        ("disconnected", None),
        ("disconnected", None),
    ]


async def test_acks_only_move_forward() -> None:
    core = EngineCore("test engine", log)
    core.begin()
    for status in ("read", "delivered", "sent", "played", "failed", "read"):
        core.apply(MessageAck(message_id="M1", status=AckStatus(status)))
    assert [e.status for e in drain(core) if isinstance(e, MessageAck)] == [
        "read",
        "played",
        "failed",
    ]


async def test_conflict_fences() -> None:
    core = EngineCore("test engine", log)
    core.begin()
    core.apply(LoggedIn(jid="1@s.whatsapp.net"))
    core.apply(Connected())
    core.apply(Conflict(detail="replaced"))
    core.apply(Connected())
    assert core.phase is Phase.CONFLICTED
    assert not core.ready
    with pytest.raises(NotReady, match="conflict"):
        core.check_sendable("not ready")
    assert [e.type for e in drain(core)][-2:] == ["conflict", "disconnected"]


async def test_send_once_per_key_even_concurrently() -> None:
    core = EngineCore("test engine", log)
    calls: list[str] = []
    release = asyncio.Event()

    async def send() -> str:
        calls.append("sent")
        await release.wait()
        return f"ID{len(calls)}"

    first = asyncio.ensure_future(core.send_once("k", send))
    second = asyncio.ensure_future(core.send_once("k", send))
    await asyncio.sleep(0)
    release.set()
    assert await first == await second == "ID1"
    assert await core.send_once("k", send) == "ID1"
    assert await core.send_once(None, send) == "ID2"
    assert calls == ["sent", "sent"]


async def test_a_failed_send_frees_its_key() -> None:
    core = EngineCore("test engine", log)

    async def refused() -> str:
        raise NotReady("not yet")

    async def works() -> str:
        return "ID"

    with pytest.raises(NotReady):
        await core.send_once("k", refused)
    assert await core.send_once("k", works) == "ID"


async def test_stop_and_kill() -> None:
    core = EngineCore("test engine", log)
    with pytest.raises(EngineStopped):
        core.check_sendable("x")
    core.begin()
    core.apply(Connected())
    torn: list[str] = []

    async def teardown() -> None:
        torn.append("stop")

    waiting = asyncio.ensure_future(
        core.in_flight.wait(
            asyncio.ensure_future(asyncio.sleep(9)), answer_within_s=None, no_answer=""
        )
    )
    await asyncio.sleep(0)
    assert await core.stop(teardown)
    with pytest.raises(SendInterrupted, match="stopped"):
        await waiting
    assert not await core.stop(teardown)
    assert not core.kill(lambda: torn.append("kill"))  # no-op after stop
    assert torn == ["stop"]
    assert core.phase is Phase.STOPPED
    assert [e.type for e in drain(core)][-1] == "disconnected"
