"""How a role runs until Kubernetes stops it: SIGTERM (or ^C) sets `stop`, the role finishes."""

from __future__ import annotations

import asyncio
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
