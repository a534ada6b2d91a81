"""`wafleet-runner dispatcher` as a process, SIGKILLed mid-delivery: nothing is lost.

The real entry point with its settings from the environment, the subscriptions
and their Secret on the real API server, read and reported on with a token of
the chart's dispatcher ServiceAccount and exactly the Role the chart renders
(`templates/dispatcher.yaml`), queues and the failure windows on the moto
server, real local subscribers. One subscriber answers slowly, so the
kills land while deliveries are in flight; every event must reach every
subscriber at least once, under its one id, verified with the reference
library. The dispatcher's log is scanned for the signing secret.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from session_runner.contract.dispatcher_settings import DispatcherSettings
from session_runner.events.event import Event, EventType, Source
from session_runner.sender.ledger import client_config, ensure_table
from tests.harness.children import dies_with_parent
from tests.harness.devserver import DEV_ACCESS_KEY_ID, DEV_REGION, DEV_SECRET_ACCESS_KEY
from tests.harness.kube import KubeApi
from tests.harness.local_http import serving
from tests.harness.moto_server import AwsEndpoint
from tests.harness.waiting import wait_for
from tests.integration.conftest import HELM, ChartRbac, Cluster, secret

BIN = Path(sys.executable).parent
SECRET = "whsec_" + base64.b64encode(b"process-test-signing-key-32-byte").decode()
TABLE = "wafleet-outbound-ledger"
EVENTS = 40


@dataclass
class Received:
    by_path: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)
    base_url: str = ""
    slow_in_progress: int = 0  # deliveries to "slow" received and not yet answered


@pytest.fixture
async def subscribers() -> AsyncIterator[Received]:
    received = Received()

    async def handle(request: web.Request) -> web.Response:
        path = request.match_info["path"]
        body = await request.read()
        if path == "slow":
            received.slow_in_progress += 1
            try:
                await asyncio.sleep(1.5)  # answered even if the dispatcher is gone meanwhile
            finally:
                received.slow_in_progress -= 1
        received.by_path.setdefault(path, []).append((dict(request.headers), body))
        return web.Response(status=204)

    async with serving(handle) as received.base_url:
        yield received


def subscription(name: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "wafleet.io/v1alpha1",
        "kind": "WebhookSubscription",
        "metadata": {"name": name},
        "spec": {
            "url": url,
            "eventTypes": ["message.received"],
            "signingSecret": {"name": "hooks-secret"},
            "retry": {"schedule": [1, 1, 1], "jitterRatio": 0.0},
        },
    }


@pytest.fixture
def chart_dispatcher_rbac(kube_api: KubeApi, cluster: Cluster, tmp_path: Path) -> Any:
    """The chart's dispatcher ServiceAccount and Role (only templates/dispatcher.yaml's)."""
    if not HELM.exists():
        pytest.skip("helm is not installed: run `make tools`")
    args = ["--show-only", "templates/dispatcher.yaml", "--set", "dispatcher.enabled=true"]
    args += ["--set", f"watchNamespaces[0]={kube_api.namespace}"]
    rbac = ChartRbac.install(kube_api, tmp_path / "dispatcher", *args)
    try:
        assert rbac.service_account == "wafleet-dispatcher"
        wait_for(
            lambda: rbac.allows("wafleet.io", "webhooksubscriptions", "list"),
            "the dispatcher's Role",
        )
        yield rbac
    finally:
        rbac.uninstall()


async def test_a_dispatcher_killed_mid_delivery_loses_nothing(
    kube_api: KubeApi,
    cluster: Cluster,
    aws: AwsEndpoint,
    subscribers: Received,
    tmp_path: Path,
    chart_dispatcher_rbac: ChartRbac,
) -> None:
    kube_api.known_secrets["hooks-secret"] = SECRET.encode()
    with kube_api.http() as http:
        http.post(
            f"/api/v1/namespaces/{kube_api.namespace}/secrets",
            json=secret("hooks-secret", {"secret": SECRET.encode()}),
        ).raise_for_status()
    for name in ("crm", "slow"):
        cluster.custom.create_namespaced_custom_object(
            "wafleet.io",
            "v1alpha1",
            cluster.namespace,
            "webhooksubscriptions",
            subscription(name, f"{subscribers.base_url}/{name}"),
        )
    sqs = aws.client("sqs")
    # a short visibility timeout: what a killed dispatcher held comes back within seconds
    for queue in ("events", "retries"):
        sqs.create_queue(QueueName=queue, Attributes={"VisibilityTimeout": "4"})
    ensure_table(
        boto3.client("dynamodb", config=client_config(5.0), **aws.server.client_kwargs()), TABLE
    )
    settings = DispatcherSettings(
        events_queue="events",
        retry_queue="retries",
        ledger_table=TABLE,
        aws_endpoint_url=aws.endpoint_url,
        aws_region=DEV_REGION,
        namespaces=kube_api.namespace,
        allowed_networks="127.0.0.1/32",
        refresh_seconds=1.0,
        status_flush_seconds=1.0,
        health_port=0,
        metrics_port=0,
    )
    env = {
        **os.environ,
        "KUBECONFIG": str(chart_dispatcher_rbac.kubeconfig),
        "AWS_ACCESS_KEY_ID": DEV_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEV_SECRET_ACCESS_KEY,
        **settings.as_env(),
    }
    env.pop("KUBERNETES_SERVICE_HOST", None)
    log_path = tmp_path / "dispatcher.log"
    kube_api.log_files["dispatcher log"] = log_path

    def start() -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            return subprocess.Popen(
                dies_with_parent([str(BIN / "wafleet-runner"), "dispatcher"]),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    events_url = sqs.get_queue_url(QueueName="events")["QueueUrl"]
    ids = []
    for n in range(EVENTS):
        event = Event.create(
            type=EventType.INBOUND,
            source=Source.SESSION,
            vendor_message_id=f"3EB0{n:08d}",
            at=datetime(2026, 12, 6, tzinfo=UTC),
            namespace=kube_api.namespace,
            account="sales",
            text=f"hello {n}",
        )
        ids.append(event.id)
        sqs.send_message(QueueUrl=events_url, MessageBody=event.to_json())

    rng = random.Random(16)
    process = start()
    kills = 0
    try:
        for _ in range(3):  # killed while slow's deliveries are in flight, started again
            deadline = time.monotonic() + 60
            while subscribers.slow_in_progress == 0:
                assert time.monotonic() < deadline, "no delivery to slow in flight"
                await asyncio.sleep(0.05)
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            kills += 1
            process = start()
        deadline = time.monotonic() + 120
        while not all(
            {Webhook(SECRET).verify(b, h)["id"] for h, b in subscribers.by_path.get(p, [])}
            >= set(ids)
            for p in ("crm", "slow")
        ):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "not every event reached every subscriber"
            await asyncio.sleep(0.5)
    finally:
        process.terminate()
        process.wait(30)

    assert kills == 3
    # the kills landed mid-way: some events were delivered again (at least once, not once)
    assert sum(len(got) for got in subscribers.by_path.values()) > 2 * EVENTS
    for path in ("crm", "slow"):
        got = subscribers.by_path[path]
        # each delivery carries its event's id as webhook-id, whichever attempt it was
        for headers, body in got:
            assert headers["webhook-id"] == Webhook(SECRET).verify(body, headers)["id"]
    assert SECRET not in log_path.read_text()
    # the status was written with the chart's RBAC: a delivery and Ready, per subscription
    for name in ("crm", "slow"):
        status = cluster.custom.get_namespaced_custom_object(
            "wafleet.io", "v1alpha1", cluster.namespace, "webhooksubscriptions", name
        )["status"]
        assert status["state"] == "Active"
        assert status["lastDelivery"]["statusCode"] == 204
    assert "forbidden" not in log_path.read_text().lower()
