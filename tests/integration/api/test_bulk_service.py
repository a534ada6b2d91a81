"""`/v1/bulk` on the bulk service itself (`session_runner.bulk.service`, S3 and DynamoDB on
moto): an upload streamed through the API is staged and recorded as a job, and the
service's refusals (a header without `to`, a placeholder that is no column, a million
columns, a bucket it may not read) come back as 422s naming the field."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from session_runner.api.app import build_app
from session_runner.api.deps import Limits
from tests.harness.kube import KubeApi
from tests.integration.api.conftest import (
    BULK_BUCKET,
    Keys,
    Objects,
    Outbound,
    api_context,
    bearer,
    real_bulk,
)
from tests.integration.api.test_bulk import MULTIPART, form

#: A BOM, CRLF lines, a quoted field holding a newline and a comma.
CSV = '\ufeffto,name\r\n+14155550123,"Ann\nSmith, Jr."\r\n+14155550124,Bob\r\n'.encode()


@pytest.fixture
async def client(
    kube_api: KubeApi, keys: Keys, objects: Objects, outbound: Outbound
) -> AsyncIterator[httpx.AsyncClient]:
    objects.pool("alpha-pool", "alpha")
    context = api_context(
        kube_api,
        outbound,
        keys,
        real_bulk(outbound),
        limits=Limits(max_body_bytes=8192, max_upload_bytes=16 * 1024 * 1024),
    )
    transport = httpx.ASGITransport(app=build_app(context))
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=bearer(keys.admin)
        ) as http:
            yield http
    finally:
        await context.kube.close()


def upload(csv: bytes, text: bytes = b"Hi {{name}}") -> bytes:
    return form(("target", b"alpha", None), ("text", text, None), ("file", csv, "list.csv"))


async def chunked(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 65536):
        yield data[start : start + 65536]


async def test_an_upload_becomes_a_job_that_can_be_read_cancelled_and_reported(
    client: httpx.AsyncClient, outbound: Outbound
) -> None:
    created = await client.post("/v1/bulk", content=chunked(upload(CSV)), headers=MULTIPART)
    assert created.status_code == 202, created.text
    job = created.json()
    assert (job["target"], job["state"]) == ("alpha", "pending")
    assert job["source"].startswith(f"s3://{BULK_BUCKET}/")
    bucket, _, key = job["source"].removeprefix("s3://").partition("/")
    staged = outbound.aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert staged == CSV  # staged byte for byte: the worker reads what was sent

    shown = await client.get(f"/v1/bulk/{job['id']}")
    assert shown.status_code == 200
    assert shown.json()["id"] == job["id"]
    report = await client.get(f"/v1/bulk/{job['id']}/errors")
    assert report.status_code == 200
    assert report.text.splitlines()[0] == "line,row,column,problem"
    cancelled = await client.post(f"/v1/bulk/{job['id']}/cancel")
    assert cancelled.json()["state"] == "cancelled"


async def test_a_csv_in_the_staging_bucket_becomes_a_job(
    client: httpx.AsyncClient, outbound: Outbound
) -> None:
    outbound.aws.client("s3").put_object(Bucket=BULK_BUCKET, Key="lists/a.csv", Body=CSV)
    body = {"target": "alpha", "text": "Hi {{name}}", "url": f"s3://{BULK_BUCKET}/lists/a.csv"}
    created = await client.post("/v1/bulk", json=body)
    assert created.status_code == 202, created.text
    elsewhere = await client.post("/v1/bulk", json={**body, "url": "s3://someone-else/a.csv"})
    assert elsewhere.status_code == 422
    assert elsewhere.json()["errors"][0]["field"] == "url"


@pytest.mark.parametrize(
    ("csv", "text", "field", "words"),
    [
        (b"phone,name\r\n+14155550123,Ann\r\n", b"Hi", "file", "'to'"),
        (b"to\r\n+14155550123\r\n", b"Hi {{name}}", "text", "{{name}}"),
        (b"to," + b",".join(b"c%d" % i for i in range(1_000_000)) + b"\r\n", b"Hi", "file", ""),
        (b"", b"Hi", "file", ""),
    ],
    ids=["no-to-column", "unknown-placeholder", "a-million-columns", "empty"],
)
async def test_the_services_refusals_name_the_field(
    client: httpx.AsyncClient, csv: bytes, text: bytes, field: str, words: str
) -> None:
    answer = await client.post("/v1/bulk", content=chunked(upload(csv, text)), headers=MULTIPART)
    assert answer.status_code == 422, answer.text
    error = answer.json()["errors"][0]
    assert error["field"] == field, error
    assert words in error["message"]
