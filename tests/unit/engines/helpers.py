"""Driving a LocalEngine on a VirtualClock: record its events, move time, look."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TypeVar

from session_runner.session.engines.events import EngineEvent
from session_runner.session.engines.local import LocalEngine
from tests.unit.engines.clock import VirtualClock

E = TypeVar("E")


class Recorder:
    """The engine's single consumer: appends every event until the stream ends."""

    def __init__(self, engine: LocalEngine) -> None:
        self.events: list[EngineEvent] = []
        self.task = asyncio.get_running_loop().create_task(self._consume(engine.events()))

    async def _consume(self, stream: AsyncIterator[EngineEvent]) -> None:
        async for event in stream:
            self.events.append(event)

    @property
    def types(self) -> list[str]:
        """The `type` tag of each event so far, in order."""
        return [event.type for event in self.events]

    def of(self, kind: type[E]) -> list[E]:
        """The events of one model so far."""
        return [event for event in self.events if isinstance(event, kind)]

    @property
    def ended(self) -> bool:
        """Whether the engine's event stream has ended."""
        return self.task.done()


@dataclass
class Sim:
    """One started engine, its recorder and the clock it runs on."""

    engine: LocalEngine
    clock: VirtualClock
    recorder: Recorder
    _seen: int = field(default=0)

    async def advance(self, seconds: float = 0.0) -> None:
        """Move virtual time; on return the engine has done everything due by then."""
        await self.clock.advance(seconds)

    def new_types(self) -> list[str]:
        """Types of the events since the last call (handy for step-by-step assertions)."""
        fresh = self.recorder.types[self._seen :]
        self._seen = len(self.recorder.events)
        return fresh
