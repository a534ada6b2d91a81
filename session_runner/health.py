"""Probes and metrics endpoints of every role (session, sender), on the ports the pod
templates name. The session runner's meaning of each probe:

- /healthz (liveness): fails when the lease loop is stuck, like client-go's
  HealthzAdaptor — a runner that believes it leads but has not renewed for
  longer than the lease duration plus a tolerance must be restarted — and
  when the session failed to start too many times in a row, or the fencing
  token floor stayed unreadable as long (`startup.start_healthy`): a fresh
  process may recover, and the restart count shows in kubectl.
- /readyz (readiness): the lease is held and the engine is logged in and connected.

Metrics are served by a second app on the metrics port (`build_metrics_app`),
as the pod template and the account's Service name it.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web


def build_app(
    alive: Callable[[], bool],
    ready: Callable[[], bool],
    why_not_alive: str = "lease loop stuck or the session keeps failing to start",
) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        ok = alive()
        return web.Response(status=200 if ok else 500, text="ok\n" if ok else f"{why_not_alive}\n")

    async def readyz(_: web.Request) -> web.Response:
        ok = ready()
        return web.Response(status=200 if ok else 503, text="ready\n" if ok else "not ready\n")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def build_metrics_app() -> web.Application:
    from session_runner.session.metrics import exposition

    async def scrape(_: web.Request) -> web.Response:
        body, content_type = exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    return app


async def serve(app: web.Application, port: int, host: str = "0.0.0.0") -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
