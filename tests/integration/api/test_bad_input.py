"""Bad input to every endpoint: a 4xx problem (application/problem+json) naming the field.

Malformed JSON, wrong types, unknown fields, bad path and query values, bad headers,
oversize bodies (by Content-Length, and chunked with no length), unknown routes and
methods, missing and unknown keys. Nothing is created by any of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.integration.api.conftest import LIMITS, Api, Objects, Outbound
from tests.integration.api.test_bulk import MULTIPART, upload

TO = "+14155550123"
SEND = {"target": "alpha", "to": TO, "text": "hi"}


def problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = dict(answer.json())
    assert body["status"] == status
    assert body["title"]
    assert body["type"]
    assert body["instance"] == answer.request.url.path
    return body


def fields(body: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(e["in"], e["field"]): e["message"] for e in body["errors"]}


@pytest.fixture
async def ready(api: Api, objects: Objects, outbound: Outbound) -> Api:
    objects.pool("alpha-pool", "alpha")
    return api


@pytest.mark.parametrize(
    ("body", "where", "field"),
    [
        (b'{"target": "alpha", "to": ', "body", "body"),  # malformed JSON
        (b"[1, 2]", "body", "body"),  # not an object
        (b'{"target": "alpha", "to": 14155550123, "text": "x"}', "body", "to"),
        (b'{"target": "alpha", "to": "+14155550123", "text": ["x"]}', "body", "text"),
        (b'{"target": 7, "to": "+14155550123", "text": "x"}', "body", "target"),
        (b'{"target": "alpha", "to": "+14155550123", "text": "x", "colour": 1}', "body", "colour"),
        (b'{"target": "alpha", "text": "x"}', "body", "to"),
        (b'{"target": "alpha", "to": "0049 151", "text": "x"}', "body", "to"),
        (b'{"target": "alpha", "to": "+14155550123", "text": ""}', "body", "text"),
        (b'{"target": "Alpha!", "to": "+14155550123", "text": "x"}', "body", "target"),
        (b'{"account": "Bad_Name", "to": "+14155550123", "text": "x"}', "body", "account"),
        (b'{"to": "+14155550123", "text": "x"}', "body", "target"),  # neither
        (
            b'{"target": "alpha", "account": "alice", "to": "+14155550123", "text": "x"}',
            "body",
            "target",
        ),
    ],
)
async def test_send_bodies(ready: Api, body: bytes, where: str, field: str) -> None:
    answer = await ready.client.post(
        "/v1/messages", content=body, headers={**ready.admin, "Content-Type": "application/json"}
    )
    found = fields(problem(answer, 422))
    assert (where, field) in found, found


@pytest.mark.parametrize("key", [" leading-space", "x" * 256, "tab\tinside", ""])
async def test_send_idempotency_keys(ready: Api, key: str) -> None:
    answer = await ready.client.post(
        "/v1/messages", json=SEND, headers={**ready.admin, "Idempotency-Key": key}
    )
    assert ("header", "Idempotency-Key") in fields(problem(answer, 422))


async def test_oversize_bodies_are_413_by_length_and_while_streaming(ready: Api) -> None:
    big = (
        b'{"target": "alpha", "to": "+14155550123", "text": "'
        + b"x" * LIMITS.max_body_bytes
        + b'"}'
    )
    declared = await ready.client.post(
        "/v1/messages", content=big, headers={**ready.admin, "Content-Type": "application/json"}
    )
    assert "larger than" in problem(declared, 413)["detail"]

    async def chunked(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 1024):
            yield data[start : start + 1024]

    streamed = await ready.client.post(
        "/v1/messages",
        content=chunked(big),
        headers={**ready.admin, "Content-Type": "application/json"},
    )
    problem(streamed, 413)
    for method, path in (
        ("POST", "/v1/accounts/alice/snapshot"),
        ("GET", "/v1/accounts"),
        ("POST", "/v1/bulk/job-1/cancel"),
    ):
        answer = await ready.client.request(method, path, content=big, headers=ready.admin)
        problem(answer, 413)
    bulk_json = await ready.client.post(
        "/v1/bulk",
        content=b'{"target": "alpha", "text": "' + b"x" * LIMITS.max_body_bytes + b'"}',
        headers={**ready.admin, "Content-Type": "application/json"},
    )
    problem(bulk_json, 413)
    csv = b"phone\r\n" + b"+14155550123\r\n" * (LIMITS.max_upload_bytes // 14 + 1)
    upload_declared = await ready.client.post(
        "/v1/bulk", content=upload(csv=csv), headers={**ready.admin, **MULTIPART}
    )
    problem(upload_declared, 413)
    upload_streamed = await ready.client.post(
        "/v1/bulk", content=chunked(upload(csv=csv)), headers={**ready.admin, **MULTIPART}
    )
    problem(upload_streamed, 413)
    assert ready.bulk.jobs == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"target": "alpha", "text": "x", "url": ', "body"),
        (b'{"target": "alpha", "text": "x", "url": "https://example.com/a.csv"}', "url"),
        (b'{"target": 5, "text": "x", "url": "s3://b/k.csv"}', "target"),
        (b'{"target": "alpha", "text": 5, "url": "s3://b/k.csv"}', "text"),
        (b'{"target": "alpha", "text": "x", "url": "s3://b/k.csv", "rows": 1}', "rows"),
        (b'{"target": "alpha", "text": "x"}', "url"),
        (b'"s3://b/k.csv"', "body"),
    ],
)
async def test_bulk_json_bodies(ready: Api, body: bytes, field: str) -> None:
    answer = await ready.client.post(
        "/v1/bulk", content=body, headers={**ready.admin, "Content-Type": "application/json"}
    )
    assert ("body", field) in fields(problem(answer, 422))
    assert ready.bulk.jobs == {}


@pytest.mark.parametrize(
    ("method", "path", "where", "field"),
    [
        ("GET", "/v1/messages/-starts-with-a-dash", "path", "message_id"),
        ("GET", "/v1/messages/" + "x" * 129, "path", "message_id"),
        ("GET", "/v1/messages/a%20b", "path", "message_id"),
        ("GET", "/v1/accounts/Bad_Name", "path", "name"),
        ("GET", "/v1/accounts/Bad_Name/qr", "path", "name"),
        ("GET", "/v1/accounts/alice/qr?format=gif", "query", "format"),
        ("POST", "/v1/accounts/bad.name/snapshot", "path", "name"),
        ("GET", "/v1/bulk/bad:id", "path", "job_id"),
        ("POST", "/v1/bulk/-x/cancel", "path", "job_id"),
        ("GET", "/v1/bulk/bad%20id/errors", "path", "job_id"),
    ],
)
async def test_path_and_query_values(
    ready: Api, method: str, path: str, where: str, field: str
) -> None:
    answer = await ready.client.request(method, path, headers=ready.admin)
    assert (where, field) in fields(problem(answer, 422))


async def test_unknown_routes_and_methods(ready: Api) -> None:
    missing = await ready.client.get("/v1/nothing-here", headers=ready.admin)
    assert problem(missing, 404)["detail"] == "no route /v1/nothing-here"
    outside = await ready.client.get("/nothing-here")
    problem(outside, 404)
    wrong = await ready.client.delete("/v1/messages", headers=ready.admin)
    assert problem(wrong, 405)["detail"] == "DELETE is not allowed on /v1/messages"
    assert wrong.headers["allow"] == "POST"


async def test_missing_malformed_and_unknown_keys_are_401_with_a_challenge(ready: Api) -> None:
    invalid = 'Bearer realm="wafleet", error="invalid_token"'
    cases: list[tuple[list[tuple[bytes, bytes]], str]] = [
        ([], 'Bearer realm="wafleet"'),
        ([(b"Authorization", f"Basic {ready.keys.admin}".encode())], invalid),
        ([(b"Authorization", b"Bearer not-a-key")], invalid),
        ([(b"Authorization", "Bearer é".encode("latin-1"))], invalid),
    ]
    for headers, challenge in cases:
        answer = await ready.client.post("/v1/messages", content=b"{nonsense", headers=headers)
        problem(answer, 401)  # before the body is looked at
        assert answer.headers["www-authenticate"] == challenge
    # Probes and the schema need no key.
    assert (await ready.client.get("/healthz")).status_code == 200
    assert (await ready.client.get("/openapi.json")).status_code == 200
