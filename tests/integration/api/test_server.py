"""The API over a real socket: `api.main.run` from its settings (uvicorn, the metrics port,
its own AWS and Kubernetes clients), an upload streamed through uvicorn, and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from session_runner.api.app import build_app
from session_runner.api.deps import Limits
from session_runner.api.keys import KeyStore
from session_runner.api.main import run
from session_runner.contract.api_settings import ApiSettings
from tests.harness.devserver import DEV_ACCESS_KEY_ID, DEV_REGION, DEV_SECRET_ACCESS_KEY, free_port
from tests.harness.kube import KubeApi
from tests.integration.api.bulk_standin import MemoryBulkService
from tests.integration.api.conftest import (
    BULK_BUCKET,
    BULK_TABLE,
    LIMITS,
    TABLE,
    Keys,
    Objects,
    Outbound,
    api_context,
    bearer,
    real_bulk,
    served,
    serving_app,
)
from tests.integration.api.test_bulk import MULTIPART, upload
from tests.integration.conftest import REPO, Cluster

TO = "+14155550123"


@pytest.fixture
def settings(kube_api: KubeApi, outbound: Outbound, cluster: Cluster) -> ApiSettings:
    return ApiSettings(
        namespace=kube_api.namespace,
        outbound_topic="wafleet-outbound",  # a name, resolved at start-up
        ledger_table=TABLE,
        requests_table=TABLE,
        aws_endpoint_url=outbound.aws.endpoint_url,
        aws_region=DEV_REGION,
        host="127.0.0.1",
        port=0,
        metrics_port=free_port(),
        max_body_bytes=LIMITS.max_body_bytes,
        max_upload_bytes=LIMITS.max_upload_bytes,
    )


@pytest.fixture
def process_env(
    kube_api: KubeApi, outbound: Outbound, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """What the pod's environment gives the process: a kubeconfig, AWS credentials, the
    bulk service's own settings (its bucket and table, made here as the chart's would be)."""
    real_bulk(outbound)
    env = {
        "KUBECONFIG": str(kube_api.kubeconfig),
        "AWS_ACCESS_KEY_ID": DEV_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEV_SECRET_ACCESS_KEY,
        "WAFLEET_BULK_BUCKET": BULK_BUCKET,
        "WAFLEET_BULK_TABLE": BULK_TABLE,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_run_serves_the_api_and_its_metrics_on_their_own_port(
    settings: ApiSettings,
    keys: Keys,
    objects: Objects,
    outbound: Outbound,
    process_env: dict[str, str],
) -> None:
    queue = objects.pool("alpha-pool", "alpha")
    assert queue is not None
    store = KeyStore(text=keys.document())
    with served(lambda stop, ready: run(settings, stop, keys=store, ready=ready)) as url:
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/healthz").text == "ok\n"
            sent = http.post(
                "/v1/messages",
                json={"target": "alpha", "to": TO, "text": "over a socket"},
                headers=bearer(keys.admin),
            )
            assert sent.status_code == 202, sent.text
            shown = http.get(f"/v1/messages/{sent.json()['id']}", headers=bearer(keys.admin))
            assert shown.json()["state"] == "queued"
            job = http.post(  # the bulk service main.py builds from WAFLEET_BULK_*
                "/v1/bulk",
                content=upload(csv=b"to,name\r\n+14155550123,Ann\r\n"),
                headers={**bearer(keys.admin), **MULTIPART},
            )
            assert job.status_code == 202, job.text
            assert job.json()["source"].startswith(f"s3://{BULK_BUCKET}/")
            assert http.get("/metrics").status_code == 404  # not on the API's port
            assert http.post("/v1/messages", json={}).status_code == 401
        scrape = httpx.get(f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=10).text
    assert [m.text for m in outbound.received(queue)] == ["over a socket"]
    assert 'wafleet_api_requests_total{code="202",method="POST",route="/v1/messages"} 1.0' in scrape
    assert (
        'wafleet_api_requests_total{code="200",method="GET",route="/v1/messages/{message_id}"} 1.0'
        in scrape
    )
    assert (
        'wafleet_api_request_duration_seconds_count{method="POST",route="/v1/messages"} 2.0'
        in scrape
    )
    assert 'route="unmatched"' in scrape  # the /metrics probe on the wrong port
    # Refused before routing, counted under the route it would have reached.
    assert 'wafleet_api_requests_total{code="401",method="POST",route="/v1/messages"} 1.0' in scrape
    assert "process_resident_memory_bytes" in scrape


def test_an_upload_streams_through_uvicorn_and_an_oversize_one_is_413(
    kube_api: KubeApi, keys: Keys, objects: Objects, outbound: Outbound
) -> None:
    objects.pool("alpha-pool", "alpha")
    bulk = MemoryBulkService()
    # Larger than one read of the socket can return (asyncio reads at most 256 KiB at a
    # time), so however fast the client is, the body reaches the server in several reads.
    limits = Limits(
        max_body_bytes=LIMITS.max_body_bytes,
        max_upload_bytes=1024 * 1024,
        kube_timeout_s=LIMITS.kube_timeout_s,
    )
    context = api_context(kube_api, outbound, keys, bulk, limits=limits)
    rows = b"".join(b"+1415555%04d,Name %d\r\n" % (i, i) for i in range(9999)) * 3  # ~700 kB
    fits = upload(csv=b"phone,name\r\n" + rows)
    too_big = upload(csv=b"phone,name\r\n" + rows * 2)
    assert 256 * 1024 < len(fits) < limits.max_upload_bytes < len(too_big)

    def chunked(data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), 16384):
            yield data[start : start + 16384]

    with (
        served(serving_app(build_app(context), context)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        headers = {**bearer(keys.admin), **MULTIPART}
        created = http.post("/v1/bulk", content=chunked(fits), headers=headers)
        assert created.status_code == 202, created.text
        received = bulk.received[created.json()["id"]]
        assert received.total == len(rows) + len(b"phone,name\r\n")
        assert len(received.chunks) > 1  # handed on as it arrived, not held whole
        streamed = http.post("/v1/bulk", content=chunked(too_big), headers=headers)
        assert streamed.status_code == 413
        assert streamed.headers["content-type"] == "application/problem+json"
        declared = http.post("/v1/bulk", content=too_big, headers=headers)
        assert declared.status_code == 413
    assert len(bulk.jobs) == 1


def test_sigterm_stops_the_server_and_the_process_exits_0(
    settings: ApiSettings, keys: Keys, process_env: dict[str, str], tmp_path: Path
) -> None:
    script = (
        "import sys\n"
        "from session_runner import logs\n"
        "from session_runner.api.keys import KeyStore\n"
        "from session_runner.api.main import run\n"
        "from session_runner.contract.api_settings import ApiSettings\n"
        "from session_runner.signals import run_until_signalled\n"
        "logs.configure('info', 'json')\n"
        "keys = KeyStore(text=sys.stdin.read())\n"
        "sys.exit(run_until_signalled(lambda stop: run(ApiSettings(), stop, keys=keys,\n"
        "    ready=lambda port: print(f'PORT {port}', flush=True))))\n"
    )
    env = {**os.environ, **process_env, **settings.as_env(), "PYTHONPATH": str(REPO)}
    log_path = tmp_path / "api.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            text=True,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(keys.document())
        process.stdin.close()
        line = process.stdout.readline()
        assert line.startswith("PORT "), log_path.read_text()
        port = int(line.split()[1])
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    logged = log_path.read_text()
    assert '"api listening"' in logged
    assert '"api stopped"' in logged
    for key in (keys.admin, keys.scoped, keys.nobody):
        assert key not in logged
