"""How a role runs until Kubernetes stops it: SIGTERM (or ^C) sets `stop`, the role finishes."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable


def run_until_signalled(run: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """`run(stop)` in a new event loop; SIGTERM and SIGINT set `stop`. 0 once it returns."""

    async def serve() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(stop)
        return 0

    return asyncio.run(serve())
