"""How a role runs until Kubernetes stops it: SIGTERM (or ^C) sets `stop`, the role finishes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from session_runner import stall


def run_until_signalled(
    run: Callable[[asyncio.Event], Awaitable[None]],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> int:
    """`run(stop)` in a new event loop (asyncio's, or `loop_factory()`'s); SIGTERM and
    SIGINT set `stop`. 0 once it returns."""

    async def serve() -> int:
        stop = asyncio.Event()
        stall.on_stop_signals(asyncio.get_running_loop(), stop)
        await run(stop)
        return 0

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(serve())


async def wait_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less when `stop` is set meanwhile: a role's pause that never holds
    up its shutdown."""
    if seconds > 0 and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
