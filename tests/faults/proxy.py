"""A tiny fault-injecting HTTP proxy, put between the runners and their lease store.

    proxy = FaultProxy(upstream="http://127.0.0.1:5000", flavor="dynamodb", seed=7)
    proxy.start()                     # proxy.url goes into AWS_ENDPOINT_URL / the kubeconfig
    proxy.add(Window(kind="status500", start=t0, end=t0 + 1.5, probability=0.5))
    ...
    proxy.heal()                      # no more faults from now on
    proxy.stop()

Why a proxy, even for the Kubernetes emulator (which has its own fault rules):
the emulator drops a request *before* serving it, while the nastiest network
failure is the opposite: the write lands and only the answer is lost, or it
lands seconds after the client gave up. A proxy does both the same way for
the API server and for moto's DynamoDB.

Faults are time windows (on the monotonic clock) of one kind each; a request
that arrives inside a window is hit with the window's probability, decided by
a seeded random generator. The schedule is reproducible from the seed; which
request a coin flip lands on depends on process timing, which is not.

Kinds:

* ``latency``: forward after `delay` seconds (shorter than the renew deadline).
* ``timeout``: hold the request for `delay` seconds (longer than the runner
  waits), then forward it anyway: a write that lands after its sender gave up.
* ``conflict``: answer 409 Conflict (Kubernetes) / ConditionalCheckFailed (DynamoDB) unseen,
  to writes only (POST/PUT/PATCH; PutItem/UpdateItem/DeleteItem), as real servers do.
* ``status500``: answer 500 without forwarding.
* ``drop_request``: close the connection without forwarding.
* ``drop_response``: forward, let the write land, then close without answering.

For the Kubernetes flavor the proxy also records every status report (PATCH
of a `/status` subresource) that the API server accepted, with the monotonic
time it landed: the stale-write check reads them.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web

FaultKind = Literal["latency", "timeout", "conflict", "status500", "drop_request", "drop_response"]
Flavor = Literal["kubernetes", "dynamodb"]

_HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
}


@dataclass(frozen=True)
class Window:
    """Fault `kind` on requests arriving in [start, end) (monotonic), each with `probability`."""

    kind: FaultKind
    start: float
    end: float
    probability: float = 1.0
    delay: float = 0.0
    path: str | None = None  # regular expression searched in the path; None: every request
    #: A 409 / failed condition only ever answers a write; True lets `conflict` hit reads too.
    conflict_on_reads: bool = False


@dataclass(frozen=True)
class StatusWrite:
    """A status report the API server accepted, and the `status.runner` it carried.

    It landed somewhere in [forwarded, answered] on the monotonic clock.
    """

    forwarded: float
    answered: float
    runner: dict[str, Any]


def _error_body(flavor: Flavor, status: int) -> bytes:
    """An error body the client libraries parse as the real thing."""
    if flavor == "dynamodb":
        kind = (
            "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
            if status == 400
            else "com.amazon.coral.service#InternalFailure"
        )
        return json.dumps({"__type": kind, "message": "injected fault"}).encode()
    reason = "Conflict" if status == 409 else "InternalError"
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f"injected fault: {reason}",
            "reason": reason,
            "code": status,
        }
    ).encode()


class _Dropped(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """The connection was aborted on purpose: nothing may be written to it."""


class FaultProxy:
    """See the module docstring. Runs its own event loop in a daemon thread."""

    def __init__(self, upstream: str, flavor: Flavor, seed: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.flavor = flavor
        self._random = random.Random(seed)
        self._windows: list[Window] = []
        self._healed_at: float | None = None
        self._lock = threading.Lock()
        self.status_writes: list[StatusWrite] = []
        self.hits: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._port = 0
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # ------------------------------------------------------------ control (any thread)

    def add(self, window: Window) -> None:
        with self._lock:
            self._windows.append(window)

    def heal(self) -> None:
        """From now on every request passes untouched (held `timeout` requests still land)."""
        with self._lock:
            self._healed_at = time.monotonic()
            self._windows.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fault proxy did not start")

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    # ------------------------------------------------------------ the server

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.run_until_complete(self._startup())
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _startup(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30), auto_decompress=False
        )
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp exposes no public accessor for the bound port
        assert server is not None
        sockets: Any = getattr(server, "sockets", ())
        self._port = int(sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _is_write(self, request: web.Request) -> bool:
        if self.flavor == "dynamodb":
            target = request.headers.get("X-Amz-Target", "")
            return target.endswith(("PutItem", "UpdateItem", "DeleteItem"))
        return request.method in ("POST", "PUT", "PATCH", "DELETE")

    def _pick(self, request: web.Request, now: float) -> Window | None:
        path, write = request.path, self._is_write(request)
        with self._lock:
            for window in self._windows:
                if not window.start <= now < window.end:
                    continue
                if window.kind == "conflict" and not (write or window.conflict_on_reads):
                    continue
                if window.path is not None and re.search(window.path, path) is None:
                    continue
                if self._random.random() < window.probability:
                    self.hits[window.kind] = self.hits.get(window.kind, 0) + 1
                    return window
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        window = self._pick(request, time.monotonic())
        try:
            return await self._faulted(request, body, window)
        except _Dropped:
            return web.Response(status=204)  # never reaches the client: the transport is gone

    async def _faulted(
        self, request: web.Request, body: bytes, window: Window | None
    ) -> web.StreamResponse:
        kind = window.kind if window is not None else None
        if window is not None and window.delay:
            await asyncio.sleep(window.delay)
        if kind == "conflict":
            status = 400 if self.flavor == "dynamodb" else 409
            return web.Response(status=status, body=_error_body(self.flavor, status))
        if kind == "status500":
            return web.Response(status=500, body=_error_body(self.flavor, 500))
        if kind == "drop_request":
            self._abort(request)
        status, headers, answer = await self._forward(request, body)
        if kind == "drop_response":
            self._abort(request)
        return web.Response(status=status, headers=headers, body=answer)

    @staticmethod
    def _abort(request: web.Request) -> None:
        if request.transport is not None:
            request.transport.abort()
        raise _Dropped()

    async def _forward(
        self, request: web.Request, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        forwarded = time.monotonic()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=body,
            allow_redirects=False,
        ) as response:
            answer = await response.read()
            answered = time.monotonic()
            if (
                self.flavor == "kubernetes"
                and request.method == "PATCH"
                and request.path.endswith("/status")
                and response.status < 300
            ):
                self._record_status(forwarded, answered, body)
            kept = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_HEADERS}
            return response.status, kept, answer

    def _record_status(self, forwarded: float, answered: float, body: bytes) -> None:
        try:
            runner = json.loads(body)["status"]["runner"]
        except (ValueError, KeyError, TypeError):
            return
        if isinstance(runner, dict):
            with self._lock:
                self.status_writes.append(StatusWrite(forwarded, answered, runner))
