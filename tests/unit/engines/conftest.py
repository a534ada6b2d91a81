"""Fixtures: LocalEngines on a virtual clock, cleaned up after each test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from session_runner.session.engines.local import LocalEngine, LocalEngineOptions
from tests.unit.engines.clock import VirtualClock
from tests.unit.engines.helpers import Recorder, Sim

StartEngine = Callable[..., Awaitable[Sim]]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def start_engine(clock: VirtualClock, tmp_path: Path) -> AsyncIterator[StartEngine]:
    """`await start_engine(session_dir=None, **options)`: a started engine, its events recording."""
    sims: list[Sim] = []

    async def start(session_dir: Path | None = None, **options: Any) -> Sim:
        engine = LocalEngine(LocalEngineOptions(**options), clock=clock)
        await engine.start(session_dir or tmp_path / "session")
        sim = Sim(engine=engine, clock=clock, recorder=Recorder(engine))
        sims.append(sim)
        await sim.advance(0)
        return sim

    yield start
    for sim in sims:
        sim.engine.kill()
        sim.recorder.task.cancel()
    await asyncio.gather(*(sim.recorder.task for sim in sims), return_exceptions=True)
