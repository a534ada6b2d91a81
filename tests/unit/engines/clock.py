"""`VirtualClock`: time that moves only when a test says so, for the local engine.

Test-only (moved out of `session_runner.session.engines.local`): the runtime needs
only the `Clock` protocol and `SystemClock`; a LocalEngine given this clock
sleeps until `await clock.advance(seconds)`, so tests never really wait and
never assert on timing.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta

#: Event-loop turns `VirtualClock` lets pass after each timer, enough for a
#: woken task, the tasks it wakes and the event consumer to run to their next wait.
_SETTLE_ROUNDS = 50


class VirtualClock:
    """Time that moves only when told: `await advance(seconds)`.

    Sleepers wake in deadline order (ties in the order they slept); after each
    wake-up the event loop gets enough turns for the woken task and everything
    it triggers to settle, so when `advance` returns the engine has done all it
    would have done by then. Single event loop only.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._epoch = start or datetime(2024, 1, 1, tzinfo=UTC)
        self._t = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        """Seconds advanced since the clock was made."""
        return self._t

    def now(self) -> datetime:
        """The start datetime plus the seconds advanced."""
        return self._epoch + timedelta(seconds=self._t)

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has been advanced by `seconds` (0 just yields)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self._t + seconds, next(self._seq), future))
        await future

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting (cancelled ones excluded)."""
        return sum(1 for _, _, future in self._timers if not future.done())

    async def settle(self) -> None:
        """Let ready tasks run without moving time."""
        for _ in range(_SETTLE_ROUNDS):
            await asyncio.sleep(0)

    async def advance(self, seconds: float = 0.0) -> None:
        """Move time forward by `seconds`, waking every sleeper due on the way."""
        if seconds < 0:
            raise ValueError("time does not go back")
        target = self._t + seconds
        await self.settle()
        while self._timers and self._timers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._timers)
            if future.done():
                continue
            self._t = max(self._t, deadline)
            future.set_result(None)
            await self.settle()
        self._t = target
        await self.settle()
