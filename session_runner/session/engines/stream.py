"""The one-consumer event stream every engine hands the runner.

Engines emit from callbacks and tasks; the runner iterates. Closing ends the
iterator after what is queued (stop), or at once, dropping what is queued
(kill: after losing the lease the runner must not act on stale events).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from session_runner.session.engines.base import EngineError
from session_runner.session.engines.events import EngineEvent


class EventStream:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[EngineEvent | None] = asyncio.Queue()
        self._taken = False
        self.closed = False

    def emit(self, event: EngineEvent) -> None:
        """Queue an event; after close, events are dropped."""
        if not self.closed:
            self._queue.put_nowait(event)

    def close(self, *, drop_pending: bool) -> None:
        """End the stream (idempotent); `drop_pending` discards events not yet taken."""
        if self.closed:
            return
        if drop_pending:
            while not self._queue.empty():
                self._queue.get_nowait()
        self._queue.put_nowait(None)
        self.closed = True

    def take(self) -> AsyncIterator[EngineEvent]:
        """The iterator, for its one consumer (a second call raises)."""
        if self._taken:
            raise EngineError("events() has one consumer and it was already taken")
        self._taken = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[EngineEvent]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event
