"""What the vendor stand-ins share: the log of accepted sends, the fault plan, the server shell.

A stand-in answers like the real API for the calls the adapters make, and
remembers every send it accepted, by our message id, so a test can assert
that nothing was sent twice. Faults are decided per request by one pure
function (`plan_request`) from the knobs in `Faults` and three random draws
(seeded, so a run can be replayed).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self

import aiohttp
from aiohttp import web

HOST = "127.0.0.1"
#: How long `wait_for` waits before failing: a safety net, never a timing check.
WAIT_S = 10.0


@dataclass(frozen=True)
class AcceptedSend:
    """One send the vendor accepted: it would reach the recipient."""

    at: float  # time.monotonic() when the request arrived
    our_id: str | None  # as the vendor carries it (Meta: biz_opaque_callback_data)
    to: str
    body: str
    vendor_id: str


class Plan(StrEnum):
    ACCEPT = "accept"
    THROTTLE = "throttle"  # rate limit answer, nothing sent
    FAIL = "fail"  # the configured error answer, nothing sent
    ACCEPT_THEN_DROP = "accept_then_drop"  # sent, then the connection closes unanswered


@dataclass(frozen=True)
class Faults:
    """Fault injection knobs; the default is a vendor that accepts everything at once."""

    fail_fraction: float = 0.0
    fail_code: int | None = None  # the vendor error code a failure answers with
    #: Its HTTP status (default: the vendor's own for that code). Without a fail_code,
    #: a bare status with an empty body, as a load balancer in front of the API answers.
    fail_status: int | None = None
    throttle_fraction: float = 0.0
    #: Throttle every send once this many were accepted within `rate_window_s`.
    throttle_above: int | None = None
    rate_window_s: float = 1.0
    retry_after_s: float | None = 1.0  # the Retry-After of a throttle answer
    delay_s: float = 0.0  # every answer to an accepted send comes this much later
    drop_fraction: float = 0.0


def plan_request(
    faults: Faults, *, draws: tuple[float, float, float], accepted_in_window: int
) -> Plan:
    """What to do with one authenticated request. `draws` are uniform in [0, 1):
    (throttle, fail, drop); a fraction of 1 always applies, 0 never."""
    throttle_draw, fail_draw, drop_draw = draws
    if faults.throttle_above is not None and accepted_in_window >= faults.throttle_above:
        return Plan.THROTTLE
    if throttle_draw < faults.throttle_fraction:
        return Plan.THROTTLE
    if fail_draw < faults.fail_fraction:
        return Plan.FAIL
    if drop_draw < faults.drop_fraction:
        return Plan.ACCEPT_THEN_DROP
    return Plan.ACCEPT


@dataclass
class SendLog:
    """Every accepted send, in arrival order."""

    sends: list[AcceptedSend] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def record(self, send: AcceptedSend) -> None:
        async with self._changed:
            self.sends.append(send)
            self._changed.notify_all()

    def count(self, our_id: str) -> int:
        return sum(1 for send in self.sends if send.our_id == our_id)

    def sent_twice(self) -> dict[str, int]:
        """Our ids the vendor accepted more than once, with how often (empty: none)."""
        counts = Counter(send.our_id for send in self.sends if send.our_id is not None)
        return {our_id: n for our_id, n in counts.items() if n > 1}

    def accepted_since(self, moment: float) -> int:
        return sum(1 for send in self.sends if send.at >= moment)

    async def wait_for(self, count: int) -> list[AcceptedSend]:
        """Until at least `count` sends were accepted."""
        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(lambda: len(self.sends) >= count)
        return list(self.sends)


class StandinServer:
    """An aiohttp app on 127.0.0.1 and a free port; `async with` starts and stops it."""

    def __init__(self, *, seed: int = 0) -> None:
        self.faults = Faults()
        self.log = SendLog()
        self.base_url = ""
        self.callbacks_delivered: list[tuple[str, int]] = []
        self._rng = random.Random(seed)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, 0).start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://{HOST}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._runner is not None:
            await self._runner.cleanup()

    # ---------------------------------------------------------------- for subclasses

    def plan(self) -> Plan:
        faults = self.faults
        window_start = time.monotonic() - faults.rate_window_s
        draws = (self._rng.random(), self._rng.random(), self._rng.random())
        return plan_request(
            faults, draws=draws, accepted_in_window=self.log.accepted_since(window_start)
        )

    def retry_after_headers(self) -> dict[str, str]:
        after = self.faults.retry_after_s
        return {} if after is None else {"Retry-After": f"{after:g}"}

    async def delay(self) -> None:
        """The configured answer delay, cut short when the server stops."""
        if self.faults.delay_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.faults.delay_s)

    @staticmethod
    def drop(request: web.Request) -> web.Response:
        """Close the connection without answering (the send stays recorded)."""
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)

    @staticmethod
    def bare(status: int) -> web.Response:
        return web.Response(status=status, body=b"")

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def post_callback(
        self, url: str, *, headers: Mapping[str, str], data: bytes | Mapping[str, str]
    ) -> None:
        """Deliver one status callback; its answer status is kept (0: no answer)."""
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    url, headers=dict(headers), data=data, timeout=aiohttp.ClientTimeout(total=5)
                ) as response,
            ):
                self.callbacks_delivered.append((url, response.status))
        except (aiohttp.ClientError, TimeoutError):
            self.callbacks_delivered.append((url, 0))


@dataclass(frozen=True)
class ReceivedCallback:
    url: str  # the full URL requested, query included
    headers: Mapping[str, str]
    body: bytes


class CallbackSink(StandinServer):
    """Our side of status callbacks: records every POST it gets and answers 200."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[ReceivedCallback] = []
        self._arrived = asyncio.Condition()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tail:.*}", self._receive)

    def url(self, path: str = "/callbacks") -> str:
        return f"{self.base_url}{path}"

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self._arrived:
            self.received.append(ReceivedCallback(str(request.url), dict(request.headers), body))
            self._arrived.notify_all()
        return web.Response(status=200)

    async def wait_for(self, count: int) -> list[ReceivedCallback]:
        """Until at least `count` callbacks arrived."""
        async with asyncio.timeout(WAIT_S), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return list(self.received)
