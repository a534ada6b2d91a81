"""`wafleet send` → the outbound topic → the pool's queue → a `wafleet-runner sender` process
→ Twilio's stand-in, with the real operator on the real API server and AWS on moto.

The sender runs as a local process configured exactly as the operator renders
its Deployment (`SenderSettings.as_env()`); no kubelet runs Deployments here.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from session_runner.contract.sender_settings import SenderSettings
from tests.harness.devserver import DEV_ACCESS_KEY_ID, DEV_REGION, DEV_SECRET_ACCESS_KEY
from tests.harness.kube import KubeApi
from tests.harness.moto_server import AwsEndpoint
from tests.harness.vendor_standins import TwilioStandin
from tests.harness.waiting import wait_for
from tests.integration.conftest import Cluster, OperatorProcess, outbound_operator_env, secret
from tests.integration.outbound.test_sender_pool_operator import create_pool, pool, ready

BIN = Path(sys.executable).parent


@pytest.fixture
def operator_env(aws: AwsEndpoint) -> dict[str, str]:
    return outbound_operator_env(aws)


def aws_env(aws: AwsEndpoint) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": aws.endpoint_url,
        "AWS_REGION": DEV_REGION,
        "AWS_DEFAULT_REGION": DEV_REGION,
        "AWS_ACCESS_KEY_ID": DEV_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEV_SECRET_ACCESS_KEY,
    }


async def wafleet(kube_api: KubeApi, aws: AwsEndpoint, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(BIN / "wafleet"),
        *args,
        env={**os.environ, **aws_env(aws), "KUBECONFIG": str(kube_api.kubeconfig)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_wafleet_send_goes_once_through_a_sender_process_to_the_vendor(
    cluster: Cluster,
    kube_api: KubeApi,
    aws: AwsEndpoint,
    twilio_standin: TwilioStandin,
    wafleet_operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    credentials = twilio_standin.credentials()
    kube_api.known_secrets["twilio auth token"] = credentials["authToken"].encode()
    cluster.core.create_namespaced_secret(
        cluster.namespace,
        secret("twilio", {k: v.encode() for k, v in credentials.items()}),
    )
    create_pool(
        cluster,
        "twilio-us",
        {
            "vendor": "twilio",
            "target": "twilio-us",
            "credentialsSecret": {"name": "twilio"},
            "phoneNumbers": [twilio_standin.sender],
        },
    )
    await asyncio.to_thread(
        wait_for, lambda: ready(cluster, "twilio-us").get("status") == "True", "the pool ready"
    )
    status = pool(cluster, "twilio-us")["status"]
    folder = tmp_path / "vendor"
    folder.mkdir()
    for key, value in credentials.items():
        (folder / key).write_text(value)
    settings = SenderSettings(
        pool="twilio-us",
        namespace=cluster.namespace,
        vendor="twilio",
        target="twilio-us",
        sender_number=twilio_standin.sender,
        queue_url=status["queueUrl"],
        dead_letter_queue_url=status["deadLetterQueueUrl"],
        aws_endpoint_url=aws.endpoint_url,
        aws_region=DEV_REGION,
        credentials_dir=folder,
        vendor_base_url=twilio_standin.base_url,
        status_callback_url="http://127.0.0.1:9/twilio/status",
        health_port=0,
        metrics_port=0,
    )
    log = (tmp_path / "sender.log").open("w")
    kube_api.log_files["sender log"] = tmp_path / "sender.log"
    sender = await asyncio.create_subprocess_exec(
        str(BIN / "wafleet-runner"),
        "sender",
        env={**os.environ, **aws_env(aws), **settings.as_env()},
        stdout=log,
        stderr=log,
    )
    try:
        args = ("send", "--pool", "twilio-us", "-n", cluster.namespace, "--to", "+14155550123")
        first = await wafleet(
            kube_api, aws, *args, "--text", "hello", "--idempotency-key", "order-1", "--wait"
        )
        again = await wafleet(
            kube_api, aws, *args, "--text", "hello", "--idempotency-key", "order-1", "--wait"
        )
    finally:
        sender.terminate()
        await asyncio.wait_for(sender.wait(), 60)
        log.close()

    assert first[0] == 0, first[1]
    assert "order-1: sent (vendor id SM" in first[1]
    assert again[0] == 0, again[1]  # the same key again: already sent, not sent again
    assert twilio_standin.log.count("order-1") == 1
    assert sender.returncode == 0  # SIGTERM: settled what it held and exited cleanly


async def test_wafleet_send_refuses_a_pool_that_is_not_ready_and_bad_numbers(
    cluster: Cluster, kube_api: KubeApi, aws: AwsEndpoint, wafleet_operator: OperatorProcess
) -> None:
    create_pool(
        cluster,
        "broken",
        {"vendor": "twilio", "target": "broken", "credentialsSecret": {"name": "absent"}},
    )
    await asyncio.to_thread(
        wait_for, lambda: ready(cluster, "broken").get("reason") == "InvalidSpec", "the verdict"
    )
    args = ("send", "--pool", "broken", "-n", cluster.namespace, "--text", "hi")
    code, out = await wafleet(kube_api, aws, *args, "--to", "+14155550123")
    assert code == 1
    assert "not ready" in out
    assert "spec.credentialsSecret.name" in out
