"""One error hierarchy for both sides: each status a caller decides on has its class."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from session_runner.kube.client import KubeApiError, KubeClient
from session_runner.kube.connection import Connection
from session_runner.kube.errors import (
    APIConflictError,
    APIError,
    APIForbiddenError,
    APINotFoundError,
    APIServerError,
    APITooManyRequestsError,
    APIUnauthorizedError,
    APIUnprocessableError,
    error_for,
    error_from_response,
)
from wafleet_operator.kube import KubeError

STATUS_CLASSES = [
    (400, APIError),
    (401, APIUnauthorizedError),
    (403, APIForbiddenError),
    (404, APINotFoundError),
    (405, APIError),
    (409, APIConflictError),
    (410, APIError),
    (422, APIUnprocessableError),
    (429, APITooManyRequestsError),
    (500, APIServerError),
    (503, APIServerError),
    (504, APIServerError),
]


@pytest.mark.parametrize(("status", "expected"), STATUS_CLASSES)
def test_each_status_maps_to_its_class(status: int, expected: type[APIError]) -> None:
    error = error_for(status, "Reason", "message")
    assert type(error) is expected
    assert isinstance(error, APIError)
    assert (error.status, error.reason, error.message) == (status, "Reason", "message")


@pytest.mark.parametrize(
    ("status", "conflict", "not_found"),
    [(404, False, True), (409, True, False), (500, False, False)],
)
def test_helpers_used_by_call_sites(status: int, conflict: bool, not_found: bool) -> None:
    error = error_for(status, "", "")
    assert (error.is_conflict, error.is_not_found) == (conflict, not_found)


def test_the_old_names_are_the_one_base_class() -> None:
    """`except KubeError` (operator) and `except KubeApiError` (runner) catch every API error."""
    assert KubeError is APIError
    assert KubeApiError is APIError


@pytest.mark.parametrize(
    ("text", "reason", "message"),
    [
        (
            '{"kind":"Status","reason":"NotFound","message":"leases \\"x\\" not found"}',
            "NotFound",
            'leases "x" not found',
        ),
        ('{"kind":"Status","message":"m"}', "Not Found", "m"),
        ("<html>proxy error: token=s3cret</html>", "Not Found", ""),
        ("[1, 2]", "Not Found", ""),
        ("", "Not Found", ""),
    ],
)
def test_the_status_body_gives_reason_and_message_and_nothing_else(
    text: str, reason: str, message: str
) -> None:
    """A body that is not a Status is not repeated: it may hold anything."""
    error = error_from_response(404, "Not Found", text)
    assert isinstance(error, APINotFoundError)
    assert (error.reason, error.message) == (reason, message)
    assert "s3cret" not in str(error) + repr(error)


@pytest.fixture
async def api_server() -> AsyncIterator[str]:
    """A real HTTP server answering like kube-apiserver: /status/<code> fails with that code."""

    async def answer(request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        if code < 400:
            return web.json_response({"query": dict(request.query)}, status=code)
        body = {"kind": "Status", "code": code, "reason": f"R{code}", "message": f"m{code}"}
        return web.json_response(body, status=code)

    app = web.Application()
    app.router.add_route("*", "/status/{code}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("status", "expected"), STATUS_CLASSES)
async def test_the_client_raises_the_class_of_the_answer(
    api_server: str, status: int, expected: type[APIError]
) -> None:
    async with KubeClient(Connection(server=api_server, ssl_context=False)) as kube:
        with pytest.raises(expected) as raised:
            await kube.request("PATCH", f"/status/{status}", {"token": "s3cret"})
    assert (raised.value.reason, raised.value.message) == (f"R{status}", f"m{status}")
    assert "s3cret" not in str(raised.value)


async def test_the_client_sends_query_parameters(api_server: str) -> None:
    """Server-side apply needs ?fieldManager=…&force=true."""
    async with KubeClient(Connection(server=api_server, ssl_context=False)) as kube:
        answer = await kube.request("GET", "/status/200", params=[("fieldManager", "w")])
    assert answer == {"query": {"fieldManager": "w"}}
