"""Event-loop lag while media moves: the probe both media benchmarks use.

A ticker sleeps TICK_S and records how late it woke; a stall of N ticks is
recorded as the N samples a punctual ticker would have seen (no coordinated
omission), so one long stall weighs as much as it hurt.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

TICK_S = 0.005


class LagProbe:
    """Samples event-loop lag every `TICK_S`, corrected for coordinated omission."""

    #: A lag at least this long is also kept with when it ended (`stalls`).
    STALL_MS = 10.0

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.stalls: list[tuple[float, float]] = []  # (time.time() at its end, lag in ms)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            late_ms = (time.perf_counter() - before - TICK_S) * 1000
            lag = max(late_ms, 0.0)
            self.samples.append(lag)
            if lag >= self.STALL_MS:
                self.stalls.append((time.time(), lag))
            while lag > TICK_S * 1000:  # what a punctual ticker would have seen
                lag -= TICK_S * 1000
                self.samples.append(lag)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def p99(self) -> float:
        if len(self.samples) < 2:
            return self.samples[0] if self.samples else 0.0
        return float(statistics.quantiles(self.samples, n=100)[98])


async def lag_p99_during(action: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(p99 lag in ms, seconds) while `action` runs."""
    probe = LagProbe()
    probe.start()
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    await action()
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.05)
    await probe.stop()
    return probe.p99(), elapsed


class GcPauses:
    """The garbage collector's pauses in this process while in use (`gc.callbacks`): a
    loop stall with no busy callback to blame is often one."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []  # (generation, ms)
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], (time.perf_counter() - self._started) * 1000))

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> str:
        """Per generation: how many collections, and the longest."""
        parts = []
        for generation in (0, 1, 2):
            ms = [pause for gen, pause in self.pauses if gen == generation]
            if ms:
                parts.append(f"gen{generation} {len(ms)}x, longest {max(ms):.1f} ms")
        return "; ".join(parts) or "none"


def write_media(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        handle.write(b"%PDF-1.7\n")
        remaining = size - 9
        while remaining > 0:
            chunk = os.urandom(min(remaining, 1 << 22))
            handle.write(chunk)
            remaining -= len(chunk)
