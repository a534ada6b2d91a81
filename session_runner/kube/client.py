"""Requests to the API server with the errors the runner's callers decide on."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from session_runner.kube.connection import Connection, load_connection

MERGE_PATCH = "application/merge-patch+json"


class KubeApiError(Exception):
    """An answer other than 2xx: the status code and the server's reason, never request bodies."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"HTTP {status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class KubeClient:
    """One aiohttp session to one API server; `async with KubeClient.connect() as kube:`."""

    def __init__(self, connection: Connection, *, user_agent: str = "wafleet-runner") -> None:
        self.connection = connection
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def connect(cls) -> KubeClient:
        return cls(load_connection())

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
                connector=aiohttp.TCPConnector(ssl=self.connection.ssl_context),
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
    ) -> dict[str, Any]:
        """One request; the decoded JSON answer, or KubeApiError. Network errors propagate
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
        ) as response:
            text = await response.text()
            if response.status >= 400:
                reason, message = response.reason or "", ""
                try:
                    status = json.loads(text)
                    reason = str(status.get("reason") or reason)
                    message = str(status.get("message") or "")
                except ValueError:
                    pass
                raise KubeApiError(response.status, reason, message)
            answer = json.loads(text) if text else {}
            return dict(answer) if isinstance(answer, dict) else {}
