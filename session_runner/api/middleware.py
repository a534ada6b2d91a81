"""What every request goes through before a route sees it, outermost first:

1. `ObserveMiddleware`: counts and times the request (`metrics.ApiMetrics`) and
   turns anything a route let escape into a 500 problem, logging the
   exception's type and the route only (an exception's text can quote what
   the request carried);
2. `AuthMiddleware`: every path under `/v1/` needs `Authorization: Bearer
   <API key>` naming a known key (401 with `WWW-Authenticate` otherwise),
   before any of the request is read. The key's entry is put in
   `scope["state"]["api_key"]` for the routes (`deps.current_key`), which
   decide what it may touch (403);
3. `BodyLimitMiddleware`: a body larger than the route's limit is refused 413,
   by its Content-Length before a byte is read, or as soon as the bytes read
   pass the limit (a chunked body has no length): `BodyTooLargeError` is raised
   from `receive`, an HTTPException, so FastAPI's body reader passes it on
   and the problem handler answers it.

They are plain ASGI middlewares: nothing here buffers a body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from session_runner.api.keys import KeyStore, authenticate, bearer_token
from session_runner.api.metrics import ApiMetrics, route_label
from session_runner.api.problems import problem_response

log = logging.getLogger(__name__)

PROTECTED_PREFIX: Final = "/v1/"
REALM: Final = 'Bearer realm="wafleet"'
STATE_KEY: Final = "api_key"


class BodyTooLargeError(HTTPException):
    """The body passed its route's limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")
        self.limit = limit


def content_length(scope: Scope) -> int | None:
    """The Content-Length header as a number; None when absent or not a number."""
    value = Headers(scope=scope).get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics, routes: Sequence[Any] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def observed_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception as error:
            status = 500
            log.error(
                "request failed: %s",
                type(error).__name__,
                extra={"route": route_label(scope, self.routes), "method": scope.get("method")},
            )
            if not response_started:
                response = problem_response(
                    500,
                    instance=scope.get("path"),
                    detail="the server failed to answer this request; it was logged",
                )
                await response(scope, receive, send)
        finally:
            self.metrics.observe(
                str(scope.get("method", "")),
                route_label(scope, self.routes),
                status,
                time.perf_counter() - started,
            )


class AuthMiddleware:
    def __init__(self, app: ASGIApp, keys: KeyStore) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        token = bearer_token(header)
        entry = authenticate(self.keys.entries, token) if token is not None else None
        if entry is None:
            given = header is not None
            log.warning(
                "request refused: %s",
                "unknown API key" if given else "no API key",
                extra={"path": path, "method": scope.get("method")},
            )
            challenge = f'{REALM}, error="invalid_token"' if given else REALM
            response = problem_response(
                401,
                instance=path,
                detail="this API key is not known"
                if given
                else "send the API key as `Authorization: Bearer <key>`",
                headers={"WWW-Authenticate": challenge},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[STATE_KEY] = entry
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        declared = content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(scope, receive, send, limit)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLargeError:
            if response_started:
                raise
            await _too_large(scope, receive, send, limit)


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = problem_response(
        413,
        instance=str(scope.get("path", "")),
        detail=f"the request body is larger than this route's limit of {limit} bytes",
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)


def current_entry(scope: Scope) -> Any:
    """The authenticated key's entry (`AuthMiddleware` put it there), or None."""
    state = scope.get("state")
    return state.get(STATE_KEY) if isinstance(state, dict) else None
