"""schemathesis against the published OpenAPI, every operation, with an API key.

The API is served over a real socket (uvicorn) on the moto server and the real API
server, with the bulk service itself (`session_runner.bulk.service`), a pool routing
`alpha`, an account `alice` awaiting login and one bulk job,
so generated requests reach every branch a schema allows. Each operation gets positive
and negative cases (`GenerationMode`); every answer must be no server error, a status
the schema documents, of a documented content type, and match its documented schema.
The failures of every operation are collected and reported together.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from session_runner.api.app import build_app
from tests.harness.kube import KubeApi
from tests.integration.api.conftest import (
    BULK_BUCKET,
    Keys,
    Objects,
    Outbound,
    api_context,
    bearer,
    real_bulk,
    served,
    serving_app,
)
from tests.integration.api.test_accounts import awaiting_login

#: Per operation and pass (positive, negative, each set of known values): ~30 s here.
MAX_EXAMPLES = 30
CSV = b"to,name\r\n+14155550123,Ann\r\n"
LIST_URL = f"s3://{BULK_BUCKET}/lists/a.csv"
#: (operation, mode, status) of every call: each operation must have succeeded at least once.
STATS: list[tuple[str, str, int]] = []
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_every_operation_answers_within_its_schema(
    kube_api: KubeApi, keys: Keys, objects: Objects, outbound: Outbound
) -> None:
    objects.pool("alpha-pool", "alpha")
    objects.account("alice", status=awaiting_login())
    bulk = real_bulk(outbound)
    outbound.aws.client("s3").put_object(Bucket=BULK_BUCKET, Key="lists/a.csv", Body=CSV)
    context = api_context(kube_api, outbound, keys, bulk)
    job = asyncio.run(bulk.create(target="alpha", text="hi", csv_chunks=None, url=LIST_URL))
    auth = bearer(keys.admin)
    failures: list[str] = []
    exercised: list[str] = []

    with served(serving_app(build_app(context), context)) as url:
        sent = httpx.post(
            f"{url}/v1/messages",
            json={"target": "alpha", "to": "+14155550123", "text": "hi"},
            headers=auth,
        )
        assert sent.status_code == 202
        known = known_values(sent.json()["id"], job.id)
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            operation = result.ok()
            exercised.append(operation.label)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                checks = CHECKS + (
                    [rejects_negative_data] if mode is GenerationMode.NEGATIVE else []
                )
                failures += _run(operation, mode, auth, checks, {})
            # Random names find nothing: the objects that exist, the rest generated.
            for fixed in known.get(operation.label, []):
                failures += _run(operation, GenerationMode.POSITIVE, auth, CHECKS, fixed)
    assert len(exercised) == 10, exercised
    answered = {label for label, _, status in STATS if 200 <= status < 300}
    assert answered == set(exercised), "operations never answered 2xx"
    assert not failures, "\n\n".join(failures[:10])


def rejects_negative_data(ctx: Any, response: Any, case: Any) -> Any:
    """schemathesis' negative_data_rejection, with 413 counted as a rejection: a body
    generated past the route's size limit is refused for that before anything else."""
    if response.status_code == 413:
        return None
    return negative_data_rejection(ctx, response, case)


def known_values(message_id: str, job_id: str) -> dict[str, list[dict[str, Any]]]:
    """Per operation, values of the objects that exist (`as_strategy` keyword arguments)."""
    alice = {"path_parameters": {"name": "alice"}}
    job = {"path_parameters": {"job_id": job_id}}
    return {
        "POST /v1/messages": [
            {"body": {"target": "alpha", "to": "+14155550123", "text": "hello"}},
            {"body": {"account": "alice", "to": "+14155550123", "text": "hello"}},
        ],
        "GET /v1/messages/{message_id}": [{"path_parameters": {"message_id": message_id}}],
        "GET /v1/accounts/{name}": [alice],
        "GET /v1/accounts/{name}/qr": [alice],
        "POST /v1/accounts/{name}/snapshot": [alice],
        "GET /v1/bulk/{job_id}": [job],
        "POST /v1/bulk/{job_id}/cancel": [job],
        "GET /v1/bulk/{job_id}/errors": [job],
        "POST /v1/bulk": [
            {
                "body": {"target": "alpha", "text": "hi", "url": LIST_URL},
                "media_type": "application/json",
            },
            {
                "body": {"target": "alpha", "text": "hi", "file": CSV},
                "media_type": "multipart/form-data",
            },
        ],
    }


def _run(
    operation: Any,
    mode: GenerationMode,
    auth: dict[str, str],
    checks: list[Any],
    fixed: dict[str, Any],
) -> list[str]:
    found: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        response = case.call(headers=auth, timeout=20)
        STATS.append((operation.label, "known" if fixed else mode.value, response.status_code))
        try:
            case.validate_response(response, checks=checks)
        except (Exception, BaseExceptionGroup) as failure:  # one report per distinct failure
            text = f"{operation.label} [{mode.value}]: {failure}"
            if text not in found:
                found.append(text[:3000])

    check()
    return found
