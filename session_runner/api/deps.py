"""What the routes are given: the API's clients and limits, and the caller's key.

`build_app` takes an `ApiContext` (tests build one on the moto server and the
real API server; `main` from `ApiSettings`), so no route reaches for a global.
`current_key` is the dependency every `/v1/` route declares: it documents the
bearer scheme in the OpenAPI (`HTTPBearer`) and returns the entry
`AuthMiddleware` authenticated.

Both are `async def` though they await nothing: FastAPI runs a plain `def`
dependency in its thread pool, two thread hand-offs per request for a dict
lookup (12 % of the API's CPU under the API bench, py-spy 2026-12-07).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from session_runner.api.keys import ApiKey, KeyStore
from session_runner.api.media_probe import MediaProbe
from session_runner.api.middleware import REALM, current_entry
from session_runner.api.problems import ProblemError
from session_runner.api.records import MessageRecords
from session_runner.api.routing import Router
from session_runner.bulk.model import BulkService
from session_runner.kube.client import KubeClient
from session_runner.sender.ledger import Ledger
from session_runner.sender.publish import TopicPublisher


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 64 * 1024
    max_upload_bytes: int = 256 * 1024 * 1024
    kube_timeout_s: float = 5.0


@dataclass(frozen=True)
class ApiContext:
    """Everything the API talks to. `publisher` publishes to the outbound topic (concurrent
    requests' messages share PublishBatch calls); `records` and `ledger` share a boto3
    DynamoDB client; `media` checks media URLs."""

    namespace: str
    keys: KeyStore
    kube: KubeClient
    router: Router
    publisher: TopicPublisher
    records: MessageRecords
    ledger: Ledger
    bulk: BulkService
    limits: Limits = Limits()
    media: MediaProbe | None = None  # None: media URLs are not checked before acceptance


_bearer = HTTPBearer(
    auto_error=False,
    description="An API key from the keys Secret: `Authorization: Bearer <key>`.",
)


async def current_key(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The caller's key entry (the middleware refused every request without one)."""
    entry = current_entry(request.scope)
    if not isinstance(entry, ApiKey):  # a /v1/ route mounted where the middleware is not
        raise ProblemError(
            401,
            "send the API key as `Authorization: Bearer <key>`",
            headers={"WWW-Authenticate": REALM},
        )
    return entry


Key = Annotated[ApiKey, Depends(current_key)]


async def context(request: Request) -> ApiContext:
    found: ApiContext = request.app.state.context
    return found


Context = Annotated[ApiContext, Depends(context)]
