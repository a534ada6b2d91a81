"""`/v1/bulk`'s HTTP side over the ASGI transport, with a bulk service that records the
chunks it is handed (`bulk_standin`): the upload reaches the service as a stream, a
malformed form is refused naming the part before the service sees a byte, and a key's
scope covers the jobs of its targets only. The real service: test_bulk_service.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tests.integration.api.conftest import Api, Objects

CSV = b"phone,name\r\n+14155550123,Ann\r\n+14155550124,Bob\r\n"
BOUNDARY = "wafleet-test-boundary"


def form(*parts: tuple[str, bytes, str | None]) -> bytes:
    """A multipart body of `(name, value, filename)` parts in this order."""
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: text/csv\r\n"
        out += b"\r\n" + value + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def upload(target: str = "alpha", csv: bytes = CSV) -> bytes:
    return form(
        ("target", target.encode(), None), ("text", b"Hi {{name}}", None), ("file", csv, "r.csv")
    )


async def test_an_upload_starts_a_job_the_key_can_follow_cancel_and_read_errors_of(
    api: Api, objects: Objects
) -> None:
    objects.pool("alpha-pool", "alpha")
    created = await api.client.post(
        "/v1/bulk", content=upload(), headers={**api.admin, **MULTIPART}
    )
    assert created.status_code == 202, created.text
    job = created.json()
    assert (job["target"], job["text"], job["state"]) == ("alpha", "Hi {{name}}", "pending")
    assert created.headers["location"] == f"/v1/bulk/{job['id']}"
    assert api.bulk.received[job["id"]].total == len(CSV)

    shown = await api.client.get(f"/v1/bulk/{job['id']}", headers=api.admin)
    assert shown.json() == job
    errors = await api.client.get(f"/v1/bulk/{job['id']}/errors", headers=api.admin)
    assert errors.status_code == 200
    assert errors.headers["content-type"] == "text/csv; charset=utf-8"
    assert errors.text.splitlines()[0] == "line,column,problem"
    cancelled = await api.client.post(f"/v1/bulk/{job['id']}/cancel", headers=api.admin)
    assert cancelled.json()["state"] == "cancelled"


async def test_a_chunked_upload_reaches_the_service_chunk_by_chunk(
    api: Api, objects: Objects
) -> None:
    objects.pool("alpha-pool", "alpha")
    rows = b"".join(b"+1415555%04d,Name %d\r\n" % (i, i) for i in range(3000))
    body = upload(csv=b"phone,name\r\n" + rows)

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    created = await api.client.post(
        "/v1/bulk", content=chunked(), headers={**api.admin, **MULTIPART}
    )
    assert created.status_code == 202, created.text
    received = api.bulk.received[created.json()["id"]]
    assert received.total == len(rows) + len(b"phone,name\r\n")
    assert len(received.chunks) > 10
    assert max(received.chunks) <= 4096
    assert created.json()["progress"]["total"] == 3000


async def test_a_csv_in_s3_starts_a_job(api: Api, objects: Objects) -> None:
    objects.pool("alpha-pool", "alpha")
    body = {"target": "alpha", "text": "Hi", "url": "s3://lists/october.csv"}
    created = await api.client.post("/v1/bulk", json=body, headers=api.admin)
    assert created.status_code == 202, created.text
    assert created.json()["source"] == "s3://lists/october.csv"
    missing = await api.client.post(
        "/v1/bulk", json={**body, "url": "s3://lists/missing.csv"}, headers=api.admin
    )
    assert missing.status_code == 422
    assert missing.json()["errors"] == [{"field": "url", "in": "body", "message": "no such object"}]


async def test_the_services_refusal_is_422_naming_its_field(api: Api, objects: Objects) -> None:
    objects.pool("alpha-pool", "alpha")
    empty = await api.client.post(
        "/v1/bulk", content=upload(csv=b""), headers={**api.admin, **MULTIPART}
    )
    assert empty.status_code == 422
    assert empty.json()["errors"] == [
        {"field": "file", "in": "body", "message": "the CSV is empty"}
    ]
    no_phone = await api.client.post(
        "/v1/bulk", content=upload(csv=b"name\r\nAnn\r\n"), headers={**api.admin, **MULTIPART}
    )
    assert no_phone.json()["errors"][0]["message"] == "line 1: no `phone` column"


async def test_a_malformed_form_is_422_naming_the_part(api: Api, objects: Objects) -> None:
    objects.pool("alpha-pool", "alpha")
    cases = {
        "target": form(("file", CSV, "r.csv"), ("target", b"alpha", None)),
        "colour": form(("colour", b"red", None), ("file", CSV, "r.csv")),
        "text": form(("target", b"alpha", None), ("file", CSV, "r.csv")),
        "file": upload()[: -len(f"--{BOUNDARY}--\r\n")]
        + form(("extra", b"x", None)),  # a part after the file
    }
    for field, body in cases.items():
        answer = await api.client.post("/v1/bulk", content=body, headers={**api.admin, **MULTIPART})
        assert answer.status_code == 422, (field, answer.text)
        assert answer.json()["errors"][0]["field"] == field, answer.json()
    assert api.bulk.jobs == {}  # nothing was created by any of them
    truncated = await api.client.post(
        "/v1/bulk", content=upload()[:-20], headers={**api.admin, **MULTIPART}
    )
    assert truncated.status_code == 422
    assert truncated.json()["errors"][0]["field"] == "body"
    wrong_type = await api.client.post(
        "/v1/bulk", content=b"phone\n", headers={**api.admin, "Content-Type": "text/csv"}
    )
    assert wrong_type.status_code == 415
    assert wrong_type.json()["errors"][0] == {
        "field": "Content-Type",
        "in": "header",
        "message": "multipart/form-data (a CSV upload) or application/json (an s3:// url)",
    }


async def test_scope_target_routing_and_unknown_jobs(api: Api, objects: Objects) -> None:
    objects.pool("alpha-pool", "alpha")
    objects.pool("beta-pool", "beta")
    scoped = api.as_(api.keys.scoped)
    refused = await api.client.post(
        "/v1/bulk", content=upload("beta"), headers={**scoped, **MULTIPART}
    )
    assert refused.status_code == 403
    nowhere = await api.client.post(
        "/v1/bulk", content=upload("nowhere"), headers={**api.admin, **MULTIPART}
    )
    assert nowhere.status_code == 422
    assert nowhere.json()["errors"][0]["field"] == "target"
    assert api.bulk.jobs == {}

    beta = await api.client.post(
        "/v1/bulk", content=upload("beta"), headers={**api.admin, **MULTIPART}
    )
    job_id = beta.json()["id"]
    for method, suffix in (("GET", ""), ("POST", "/cancel"), ("GET", "/errors")):
        answer = await api.client.request(method, f"/v1/bulk/{job_id}{suffix}", headers=scoped)
        assert answer.status_code == 403, suffix
        missing = await api.client.request(method, f"/v1/bulk/nope{suffix}", headers=api.admin)
        assert missing.status_code == 404, suffix
        assert missing.json()["detail"] == "no bulk job nope"
    # A bulk row's message is its job's target's: the scoped key may not read beta's rows.
    await api.context.ledger.claim(f"{job_id}:2", "sender-a", 60.0)
    assert (await api.client.get(f"/v1/messages/{job_id}:2", headers=scoped)).status_code == 403
    assert (await api.client.get(f"/v1/messages/{job_id}:2", headers=api.admin)).status_code == 200
