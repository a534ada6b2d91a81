"""Requests to the API server, for the runner and the operator (one client for both).

A thin layer over aiohttp, which both processes load anyway (kopf talks to the
API with it): `make bench ONLY=kube-clients` measured this client at +0.5 MB
PSS over aiohttp alone, kubernetes_asyncio at +39 MB and lightkube (httpx2)
at more than this one; see session_runner/kube/__init__.py for the figures.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from session_runner.kube.connection import Connection, load_connection
from session_runner.kube.errors import APIError, error_from_response

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

#: The runner's name for the base API error, kept for its call sites and tests.
KubeApiError = APIError

#: aiohttp's default bound on open connections; the operator asks for fewer.
DEFAULT_MAX_CONNECTIONS = 100


class KubeClient:
    """One aiohttp session to one API server; `async with KubeClient.connect() as kube:`."""

    def __init__(
        self,
        connection: Connection,
        *,
        user_agent: str = "wafleet-runner",
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.connection = connection
        self._user_agent = user_agent
        #: Open connections at most; a request beyond waits for a free one.
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def connect(
        cls, *, user_agent: str = "wafleet-runner", max_connections: int = DEFAULT_MAX_CONNECTIONS
    ) -> KubeClient:
        """In-cluster in a pod, else the kubeconfig ($KUBECONFIG or ~/.kube/config)."""
        return cls(load_connection(), user_agent=user_agent, max_connections=max_connections)

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    ssl=self.connection.ssl_context, limit=self.max_connections
                ),
                headers={"User-Agent": self._user_agent, "Accept": "application/json"},
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        params: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        """One request; the decoded JSON answer, or an APIError subclass for the status
        (session_runner.kube.errors). Network errors propagate
        as aiohttp.ClientError / OSError for the caller to classify; callers bound the
        time with asyncio.wait_for (the lease's deadline is theirs to enforce)."""
        headers = dict(self.connection.authorization())
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        async with self._http().request(
            method,
            self.connection.server + path,
            data=data,
            headers=headers,
            params=params,
        ) as response:
            text = await response.text()
            if response.status >= 400:
                raise error_from_response(response.status, response.reason or "", text)
            answer = json.loads(text) if text else {}
            return dict(answer) if isinstance(answer, dict) else {}
