"""API keys never show: not in a log line (at DEBUG, every logger, botocore's included), not
in an answer, whichever way a client sends or misplaces them.

The keys go in the Authorization header (right, wrong, with another scheme, with a
character added), and where they do not belong: body fields, the Idempotency-Key header,
a query value. Every answer's body and headers and every log record (message and
`extra` fields) are searched for each key; the records are also written to a file the
namespace's secret scan searches in every encoded form (`tests.harness.secret_scan`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from tests.harness.kube import KubeApi
from tests.integration.api.conftest import Api, Objects, Outbound

TO = "+14155550123"


def requests_carrying(key: str) -> list[tuple[str, str, dict[str, str], object]]:
    """(method, path, headers, json body) of requests that carry `key` somewhere."""
    right = {"Authorization": f"Bearer {key}"}
    return [
        ("POST", "/v1/messages", right, {"target": "alpha", "to": TO, "text": "hi"}),
        ("POST", "/v1/messages", {"Authorization": f"Bearer {key}x"}, {"target": "alpha"}),
        ("POST", "/v1/messages", {"Authorization": f"Bearer {key[:-1]}"}, {}),
        ("GET", "/v1/accounts", right, None),
        ("GET", "/v1/accounts", {"Authorization": f"Basic {key}"}, None),
        ("GET", "/v1/accounts", {"Authorization": key}, None),
        ("POST", "/v1/messages", right, {"target": key, "to": TO, "text": "x"}),
        ("POST", "/v1/messages", right, {"target": "alpha", "to": key, "text": "x"}),
        ("POST", "/v1/messages", right, {"target": "nowhere", "to": TO, "text": key}),
        ("POST", "/v1/messages", right, {"target": "alpha", "to": TO, key: "x"}),
        (
            "POST",
            "/v1/messages",
            {**right, "Idempotency-Key": key},
            {"target": "alpha", "to": TO, "text": "x"},
        ),
        (
            "POST",
            "/v1/messages",
            {**right, "Idempotency-Key": key},
            {"target": "alpha", "to": TO, "text": "y"},
        ),
        ("POST", "/v1/bulk", right, {"target": "alpha", "text": "x", "url": key}),
        ("POST", "/v1/bulk", right, {"target": "alpha", "text": key, "url": "s3://b/k.csv"}),
        ("GET", f"/v1/accounts/alice/qr?format={key}", right, None),
        ("GET", "/v1/accounts/ghost", right, None),
        ("POST", "/v1/accounts/ghost/snapshot", right, None),
        ("GET", "/v1/messages/order-1", right, None),
    ]


async def test_api_keys_never_appear_in_answers_or_logs(
    api: Api,
    objects: Objects,
    outbound: Outbound,
    kube_api: KubeApi,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    objects.pool("alpha-pool", "alpha")
    objects.account("alice")
    keys = (api.keys.admin, api.keys.scoped, api.keys.nobody)
    answers: list[httpx.Response] = []
    with caplog.at_level(logging.DEBUG):
        for key in keys:
            for method, path, headers, body in requests_carrying(key):
                answers.append(await api.client.request(method, path, headers=headers, json=body))
    assert {a.status_code for a in answers} >= {200, 202, 401, 403, 404, 409, 422}

    # Every record but the test's own HTTP client's (httpx logs the URLs it calls).
    records = [
        f"{record.getMessage()} {record.__dict__!r}"
        for record in caplog.records
        if not record.name.startswith("httpx")
    ]
    log_file = tmp_path / "api-records.log"
    log_file.write_text("\n".join(records), encoding="utf-8")
    kube_api.log_files["api log records"] = log_file  # the teardown scan looks in it too

    assert any("request refused" in line for line in records)  # the refusals were logged
    for key in keys:
        for answer in answers:
            shown = answer.text + repr(dict(answer.headers))
            assert key not in shown, (answer.request.method, answer.request.url.path, shown)
            assert key[:-1] not in shown
        for line in records:
            assert key[:-1] not in line, line[:3000]
