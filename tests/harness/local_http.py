"""A handler served on 127.0.0.1: the webhook tests' local subscribers (POST), the API
tests' media server (HEAD)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serving(
    handle: Handler, route: str = "/{path}", method: str = "POST"
) -> AsyncIterator[str]:
    """`handle` answering `method` requests to `route` on a free local port; yields the base
    URL."""
    app = web.Application()
    app.router.add_route(method, route, handle)
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
