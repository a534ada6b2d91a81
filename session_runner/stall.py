"""What a process still waits for when its graceful stop runs long.

The kubelet SIGKILLs a container that outlives its grace period, and a
SIGKILLed process leaves nothing behind that says why it did not stop. A
little before that moment `watch_stop` logs every asyncio task still pending
with the chain of awaits it is suspended in (file, line, function: never
locals or arguments, which can hold secrets), so `kubectl logs --previous`
shows what held the stop up.

`await_chain` is the pure part: asyncio's own `Task.get_stack()` shows only a
suspended task's outermost frame, not the coroutines it awaits.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterable
from typing import Any, Final

log = logging.getLogger(__name__)

#: Frames per task in the report: enough to reach the awaited call, bounded for the log.
MAX_FRAMES: Final = 12


def await_chain(coro: Any, limit: int = MAX_FRAMES) -> list[str]:
    """`file:line function` of each coroutine `coro` is suspended in, outermost first.

    Follows `cr_await` (coroutines) and `gi_yieldfrom` (generator-based awaitables)
    until a future or a plain object ends the chain.
    """
    frames: list[str] = []
    current = coro
    while current is not None and len(frames) < limit:
        frame = getattr(current, "cr_frame", None) or getattr(current, "gi_frame", None)
        if frame is None:
            break
        code = frame.f_code
        frames.append(f"{code.co_filename}:{frame.f_lineno} {code.co_name}")
        current = getattr(current, "cr_await", None) or getattr(current, "gi_yieldfrom", None)
    return frames


def describe_tasks(tasks: Iterable[asyncio.Task[Any]]) -> list[dict[str, Any]]:
    """Name and await chain of each task not done, in name order."""
    pending = sorted((t for t in tasks if not t.done()), key=lambda t: t.get_name())
    return [{"task": t.get_name(), "awaiting": await_chain(t.get_coro())} for t in pending]


async def watch_stop(stop: asyncio.Event, report_after_s: float) -> None:
    """Once `stop` is set: if the process is still here `report_after_s` later, log what
    every other task waits for (once; the kubelet's SIGKILL is due soon after)."""
    await stop.wait()
    await asyncio.sleep(report_after_s)
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    log.error(
        "still stopping %.0f s after the stop was requested",
        report_after_s,
        extra={"pending": describe_tasks(tasks)},
    )


def on_stop_signals(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Event, what: str = "stop requested"
) -> None:
    """SIGTERM and SIGINT set `stop`, and say so in the log (which signal, when)."""

    def handle(signum: int) -> None:
        log.info("%s (%s)", what, signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, handle, signum)
