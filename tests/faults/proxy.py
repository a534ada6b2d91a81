"""A tiny fault-injecting HTTP proxy, put between the runners and their lease store.

    proxy = FaultProxy(upstream="http://127.0.0.1:5000", flavor="dynamodb", seed=7)
    proxy = FaultProxy.for_control_plane(plane, seed=7)   # in front of a real kube-apiserver
    proxy.start()                     # proxy.url goes into AWS_ENDPOINT_URL / the kubeconfig
    proxy.add(Window(kind="status500", start=t0, end=t0 + 1.5, probability=0.5))
    ...
    proxy.heal()                      # no more faults from now on
    proxy.stop()

Why a proxy: a real API server cannot be told to fail, and the nastiest
network failure is not a refused request but a write that lands while only
the answer is lost, or that lands seconds after the client gave up. A proxy
does both the same way for kube-apiserver and for moto's DynamoDB.

In front of a real API server (`for_control_plane`) the proxy listens on
plain HTTP on 127.0.0.1 and forwards over HTTPS, trusting the cluster CA.
Clients behind it authenticate with a bearer token (a ServiceAccount's
TokenRequest token), which the proxy passes on untouched, so the server
applies exactly that account's RBAC. A request without an Authorization
header goes upstream with no identity (the server answers 401/403), unless
the proxy was built with `admin_without_token=True`: then such requests
present the admin client certificate. Never both on one connection: the API
server tries client certificates before bearer tokens, so a token sent over
an admin-certificate connection would silently run as the admin.

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
* ``status``: answer `status` (any code: 403, 429, 503 ...) without forwarding.
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
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from tests.harness.control_plane import ControlPlane

FaultKind = Literal[
    "latency", "timeout", "conflict", "status500", "status", "drop_request", "drop_response"
]
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
    #: The code a `status` window answers (`status500` always answers 500).
    status: int = 500
    #: HTTP method the window applies to (e.g. "PATCH"); None: every method.
    method: str | None = None


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
    reason = {
        409: "Conflict",
        403: "Forbidden",
        429: "TooManyRequests",
        503: "ServiceUnavailable",
        504: "Timeout",
    }.get(status, "InternalError")
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

    def __init__(
        self,
        upstream: str,
        flavor: Flavor,
        seed: int,
        *,
        upstream_ssl: ssl.SSLContext | None = None,
        tokenless_ssl: ssl.SSLContext | None = None,
    ) -> None:
        """`upstream_ssl`: how to trust an HTTPS upstream (it must present no client
        certificate: see the module docstring); `tokenless_ssl`: the context, with a
        client certificate, for requests that carry no Authorization header."""
        self.upstream = upstream.rstrip("/")
        self.flavor = flavor
        self._upstream_ssl = upstream_ssl
        self._tokenless_ssl = tokenless_ssl
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
        self._tokenless_session: aiohttp.ClientSession | None = None
        self._port = 0
        self._ready = threading.Event()

    @classmethod
    def for_control_plane(
        cls, plane: ControlPlane, seed: int, *, admin_without_token: bool = False
    ) -> FaultProxy:
        """A Kubernetes-flavoured proxy in front of `plane`'s API server (HTTPS, its CA).

        `admin_without_token`: requests without an Authorization header present the
        admin client certificate upstream; otherwise they reach the server anonymous.
        """
        assert plane.pki is not None, "the control plane is not started"
        trust = ssl.create_default_context(cafile=str(plane.pki.ca_cert))
        return cls(
            plane.url,
            "kubernetes",
            seed,
            upstream_ssl=trust,
            tokenless_ssl=plane.ssl_context() if admin_without_token else None,
        )

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
        self._session = self._client_session(self._upstream_ssl)
        if self._tokenless_ssl is not None:
            self._tokenless_session = self._client_session(self._tokenless_ssl)
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

    @staticmethod
    def _client_session(context: ssl.SSLContext | None) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context if context is not None else True),
            timeout=aiohttp.ClientTimeout(total=30),
            auto_decompress=False,
        )

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        for session in (self._session, self._tokenless_session):
            if session is not None:
                await session.close()

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
                if window.method is not None and window.method != request.method:
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
        if kind in ("status500", "status"):
            assert window is not None
            status = 500 if kind == "status500" else window.status
            return web.Response(status=status, body=_error_body(self.flavor, status))
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
        session = self._session
        if self._tokenless_session is not None and "Authorization" not in request.headers:
            session = self._tokenless_session
        assert session is not None
        forwarded = time.monotonic()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with session.request(
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
