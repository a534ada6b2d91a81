"""Test doubles for the lease tests: virtual time, a faulty network, and a callback recorder.

They stand in for the world around the elector (time, the network), never for
the code under test.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from session_runner.session.lease.backend import LeaseBackend
from session_runner.session.lease.record import LeaseBackendError, LeaseRecord

R = TypeVar("R")


class VirtualTime:
    """A monotonic clock and a sleep that only advance when every task is waiting.

    `run_until(predicate, limit)` lets the event loop settle, then jumps the
    clock to the earliest sleeper's wake-up time, and so on, so minutes of
    lease time pass in milliseconds and every run is deterministic.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return datetime(2024, 5, 1, tzinfo=UTC) + timedelta(seconds=self.now)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._seq), future))
        await future

    async def settle(self) -> None:
        """Yield until no task is ready to run (everyone waits on a sleep or a future)."""
        loop: Any = asyncio.get_running_loop()
        idle = 0
        for _ in range(10_000):
            await asyncio.sleep(0)
            idle = idle + 1 if not loop._ready else 0
            if idle >= 3:
                return

    async def run_until(self, predicate: Callable[[], bool], limit: float) -> None:
        """Advance virtual time until `predicate()` holds; fail past `limit` virtual seconds."""
        end = self.now + limit
        while True:
            await self.settle()
            if predicate():
                return
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # cancelled sleeps
            if not self._sleepers:
                raise AssertionError("deadlock: nothing sleeps and the condition never held")
            wake, _, future = heapq.heappop(self._sleepers)
            if wake > end:
                raise AssertionError(f"condition not reached within {limit} virtual seconds")
            self.now = max(self.now, wake)
            future.set_result(None)

    async def run_for(self, seconds: float) -> None:
        """Advance exactly `seconds` of virtual time (running everything due meanwhile)."""
        end = self.now + seconds
        marker = asyncio.ensure_future(self.sleep(seconds))  # a wake-up exactly at `end`
        await self.run_until(marker.done, seconds + 1e-9)
        assert self.now == end


@dataclass
class Fault:
    """What the network does to one call: delay the request/response, fail before/after."""

    request_delay: float = 0.0
    response_delay: float = 0.0
    fail_before: bool = False  # the request never reaches the backend
    fail_after: bool = False  # it reaches the backend, the answer is lost


@dataclass
class FaultyNetwork:
    """A backend seen through a network a test controls: `partitioned`, or a per-call `plan`.

    Raises LeaseBackendError as a real backend does on timeouts and dropped
    connections. Not our code: a stand-in for the network between one runner
    and the shared backend.
    """

    inner: LeaseBackend
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    partitioned: bool = False
    plan: Callable[[str], Fault] | None = None
    calls: list[str] = field(default_factory=list)

    async def get(self) -> LeaseRecord | None:
        return await self._through("get", self.inner.get)

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        return await self._through("create", lambda: self.inner.create(record))

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        return await self._through("update", lambda: self.inner.update(record))

    async def _through(self, op: str, call: Callable[[], Awaitable[R]]) -> R:
        self.calls.append(op)
        fault = self.plan(op) if self.plan else Fault()
        if self.partitioned or fault.fail_before:
            raise LeaseBackendError(f"{op}: network partitioned (test double)")
        # Once sent, a request lands even if the caller stops waiting (like a real network).
        result = await asyncio.shield(asyncio.ensure_future(self._deliver(call, fault)))
        if fault.response_delay:
            await self.sleep(fault.response_delay)
        if self.partitioned or fault.fail_after:
            raise LeaseBackendError(f"{op}: connection dropped after the request (test double)")
        return result

    async def _deliver(self, call: Callable[[], Awaitable[R]], fault: Fault) -> R:
        if fault.request_delay:
            await self.sleep(fault.request_delay)
        return await call()


@dataclass
class Recorder:
    """Callbacks for one elector that log (event, identity, time, token) into a shared list."""

    identity: str
    clock: Callable[[], float]
    events: list[tuple[str, str, float, int | None]]

    def started(self, token: int) -> None:
        self.events.append(("started", self.identity, self.clock(), token))

    def stopped(self) -> None:
        self.events.append(("stopped", self.identity, self.clock(), None))

    def count(self, event: str) -> int:
        return sum(1 for e in self.events if e[0] == event and e[1] == self.identity)


def leadership_intervals(
    events: list[tuple[str, str, float, int | None]], end: float
) -> list[tuple[float, float, str, int]]:
    """(start, stop, identity, token) for each leadership in `events`; open ones end at `end`."""
    open_: dict[str, tuple[float, int]] = {}
    intervals: list[tuple[float, float, str, int]] = []
    for event, who, at, token in events:
        if event == "started":
            assert who not in open_, f"{who} started twice without stopping"
            assert token is not None
            open_[who] = (at, token)
        else:
            start, tok = open_.pop(who)
            intervals.append((start, at, who, tok))
    intervals += [(start, end, who, tok) for who, (start, tok) in open_.items()]
    return sorted(intervals)


def assert_no_overlap(
    intervals: list[tuple[float, float, str, int]], takeover_gap: float = 0.0
) -> None:
    """Leaderships never overlap; between different holders there are at least
    `takeover_gap` seconds, and the later holder's token is higher."""
    for (s1, e1, w1, t1), (s2, e2, w2, t2) in itertools.pairwise(intervals):
        assert e1 <= s2, f"{w1} led [{s1}, {e1}] and {w2} led [{s2}, {e2}]: overlap"
        if w1 != w2:
            assert s2 - e1 >= takeover_gap - 1e-9, f"{w2} took over {s2 - e1:.3f}s after {w1}"
            assert t2 > t1, f"{w2} took over from {w1} with token {t2} <= {t1}"
        else:
            assert t2 >= t1
