"""The HTTP API as the CLI calls it (`--api URL`): aiohttp, the key as a bearer token.

Every answer that is not a success becomes a `CommandError` whose line is the
problem's (`problems.problem_line`: the field named as the user typed it) and
whose exit code says whether the arguments were at fault. The API key is sent
in the Authorization header and nowhere else: never in a URL, never in a line
the CLI prints (`problems.redact` guards the lines built from exceptions).

A bulk upload is streamed from the file (aiohttp reads it in chunks as the
socket takes them): a CSV of half a million rows is never held in memory.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final
from urllib.parse import quote, urlsplit

import aiohttp

from session_runner.cli.problems import (
    EXIT_FAILED,
    EXIT_USAGE,
    CommandError,
    one_line,
    problem_exit_code,
    problem_line,
    redact,
)

API_KEY_ENV: Final = "WAFLEET_API_KEY"
API_URL_ENV: Final = "WAFLEET_API_URL"
#: What the API accepts after "Bearer " (RFC 6750's b64token; `session_runner.api.keys`).
_TOKEN: Final = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
MAX_KEY_CHARS: Final = 512
CSV_MEDIA_TYPE: Final = "text/csv"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"


def api_key_problem(key: str | None) -> str | None:
    """Why `key` cannot be an API key (the key itself is never part of the answer), or None."""
    if not key:
        return f"--api-key: required with --api (or set {API_KEY_ENV})"
    if len(key) > MAX_KEY_CHARS or not _TOKEN.match(key):
        return (
            "--api-key: not an API key (letters, digits and -._~+/ only, at most "
            f"{MAX_KEY_CHARS} characters; the value is not shown)"
        )
    return None


def api_url_problem(url: str) -> str | None:
    """Why `url` cannot be the API's base URL, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "--api: an http:// or https:// URL of the wafleet API (http://host:port)"
    if parts.query or parts.fragment:
        return "--api: the API's base URL, without a query or fragment"
    return None


def path_segment(value: str) -> str:
    """A message or job id as one path segment (a bulk row's id holds ':')."""
    return quote(value, safe=":")


class ApiClient:
    """One CLI command's calls to the API at `base_url` with `api_key`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        fields: Mapping[str, str] | None = None,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.fields = dict(fields or {})
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout_s, sock_read=read_timeout_s
        )
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        self._session = aiohttp.ClientSession(
            timeout=self._timeout,
            headers={"Authorization": f"Bearer {self._key}", "Accept": "application/json"},
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use ApiClient as `async with`"
        return self._session

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    async def _failure(self, response: aiohttp.ClientResponse) -> CommandError:
        try:
            body: object = await response.json(content_type=None)
        except (ValueError, aiohttp.ClientError):
            body = None
        line = problem_line(response.status, body, self.fields)
        return CommandError(redact(line, self._key), problem_exit_code(response.status, body))

    def unreachable(self, error: BaseException) -> CommandError:
        """An error of the connection itself (refused, reset, timed out) as one line."""
        reason = str(error) or type(error).__name__
        line = one_line(f"cannot reach the API at {self.base_url}: {reason}")
        return CommandError(redact(line, self._key), EXIT_FAILED)

    async def _json(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any
    ) -> tuple[dict[str, Any], aiohttp.ClientResponse]:
        try:
            async with self.session.request(method, self.url(path), **kwargs) as response:
                if response.status not in expect:
                    raise await self._failure(response)
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise self.unreachable(error) from None
        except ValueError:
            raise CommandError(f"the API at {self.base_url} answered something not JSON") from None
        if not isinstance(body, dict):
            raise CommandError(f"the API at {self.base_url} answered something unexpected")
        return body, response

    async def send_message(
        self, body: Mapping[str, str], idempotency_key: str | None
    ) -> tuple[dict[str, Any], bool]:
        """`POST /v1/messages`: the accepted message, and whether it was accepted before (the
        same Idempotency-Key and body: the original message, nothing sent again)."""
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else {}
        answer, response = await self._json(
            "POST", "/v1/messages", expect=(200, 202), json=dict(body), headers=headers
        )
        return answer, response.headers.get(REPLAYED_HEADER) == "true"

    async def message(self, message_id: str) -> dict[str, Any]:
        """`GET /v1/messages/{id}`: its state and history."""
        answer, _ = await self._json("GET", f"/v1/messages/{path_segment(message_id)}")
        return answer

    async def create_bulk(self, target: str, text: str, csv: Path) -> dict[str, Any]:
        """`POST /v1/bulk` with the CSV streamed from `csv` as the form's last part."""
        try:
            handle = csv.open("rb")
        except OSError as error:
            raise CommandError(f"FILE: cannot read {csv}: {error.strerror}", EXIT_USAGE) from None
        with handle:
            form = aiohttp.FormData(quote_fields=False)
            form.add_field("target", target)
            form.add_field("text", text)
            form.add_field("file", handle, filename=csv.name, content_type=CSV_MEDIA_TYPE)
            answer, _ = await self._json("POST", "/v1/bulk", expect=(202,), data=form)
        return answer

    async def create_bulk_from_url(self, target: str, text: str, url: str) -> dict[str, Any]:
        """`POST /v1/bulk` naming a CSV already in S3."""
        body = {"target": target, "text": text, "url": url}
        answer, _ = await self._json("POST", "/v1/bulk", expect=(202,), json=body)
        return answer

    async def bulk(self, job_id: str) -> dict[str, Any]:
        """`GET /v1/bulk/{id}`."""
        answer, _ = await self._json("GET", f"/v1/bulk/{path_segment(job_id)}")
        return answer

    async def cancel_bulk(self, job_id: str) -> dict[str, Any]:
        """`POST /v1/bulk/{id}/cancel`."""
        answer, _ = await self._json("POST", f"/v1/bulk/{path_segment(job_id)}/cancel")
        return answer

    async def bulk_errors(self, job_id: str) -> AsyncIterator[bytes]:
        """`GET /v1/bulk/{id}/errors`: the report's CSV, as it arrives."""
        try:
            async with self.session.get(
                self.url(f"/v1/bulk/{path_segment(job_id)}/errors"),
                headers={"Accept": f"{CSV_MEDIA_TYPE}, application/problem+json"},
            ) as response:
                if response.status != 200:
                    raise await self._failure(response)
                async for chunk in response.content.iter_chunked(64 * 1024):
                    yield chunk
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise self.unreachable(error) from None
