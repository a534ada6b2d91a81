"""A session pool end to end: `wafleet send` → the outbound topic → the pool's queue → the
account's runner → its engine, with the real operator on the real API server and AWS on moto.

The runner plays the account's pod (as its ServiceAccount, as in
tests/integration/test_operator_with_runner.py) with the local engine, which
logs every message it hands to the peer. The operator wires the pool to the
account with one annotation; these tests check that wiring, the pool's
conditions as the account's phase changes, and that the annotation goes with
the pool.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from session_runner.contract.session_outbound import OUTBOUND_ANNOTATION, wiring_from_annotations
from tests.harness.devserver import DEV_ACCESS_KEY_ID, DEV_REGION, DEV_SECRET_ACCESS_KEY
from tests.harness.kube import KubeApi
from tests.harness.moto_server import AwsEndpoint
from tests.harness.waiting import wait_for
from tests.integration.conftest import WAFLEET, Cluster, OperatorProcess, outbound_operator_env
from tests.integration.outbound.test_sender_pool_operator import (
    GROUP,
    PLURAL,
    VERSION,
    create_pool,
    pool,
    queue_urls,
    ready,
)
from tests.integration.test_operator_with_runner import phase, runner_process

__all__ = ["runner_process"]  # the fixture, used by name below

AWS_ENV = {
    "AWS_REGION": DEV_REGION,
    "AWS_DEFAULT_REGION": DEV_REGION,
    "AWS_ACCESS_KEY_ID": DEV_ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": DEV_SECRET_ACCESS_KEY,
}


@pytest.fixture
def operator_env(aws: AwsEndpoint) -> dict[str, str]:
    return outbound_operator_env(aws)


def send(
    kube_api: KubeApi, aws: AwsEndpoint, namespace: str, key: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    args = ["send", "--pool", "alice-session", "-n", namespace, "--to", "+14155550123"]
    return subprocess.run(
        [str(WAFLEET), *args, "--text", f"hello {key}", "--idempotency-key", key, *extra],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            **AWS_ENV,
            "AWS_ENDPOINT_URL": aws.endpoint_url,
            "KUBECONFIG": str(kube_api.kubeconfig),
        },
        timeout=120,
        check=False,
    )


def sent_keys(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [json.loads(line)["key"] for line in log.read_text().splitlines()]


def annotation(cluster: Cluster, name: str) -> str | None:
    annotations = cluster.account(name)["metadata"].get("annotations") or {}
    return annotations.get(OUTBOUND_ANNOTATION)


def test_a_session_pool_sends_through_the_accounts_runner_and_waits_while_it_is_fenced(
    cluster: Cluster,
    kube_api: KubeApi,
    aws: AwsEndpoint,
    wafleet_operator: OperatorProcess,
    runner_process: Any,
    tmp_path: Path,
) -> None:
    cluster.create_account("alice", {"phoneNumber": "+15550100001", "engine": "local"})
    wait_for(lambda: cluster.statefulset("alice"), "the account's StatefulSet")
    cluster.mark_pod_ready("alice")
    sent_log = tmp_path / "sent.jsonl"
    runner = runner_process("alice", WAFLEET_LOCAL_ENGINE_SENT_LOG=str(sent_log), **AWS_ENV)
    create_pool(
        cluster,
        "alice-session",
        {"vendor": "session", "target": "alice", "accountRef": {"name": "alice"}},
    )

    # The operator hands the pool's queues to the account's runner, on the account.
    value = wait_for(lambda: annotation(cluster, "alice"), "the account wired to the pool")
    wiring, problem = wiring_from_annotations({OUTBOUND_ANNOTATION: value})
    assert problem is None
    assert wiring is not None
    status = wait_for(lambda: pool(cluster, "alice-session").get("status"), "the pool's status")
    wait_for(lambda: phase(cluster, "alice") == "Connected", "the account connected")
    wait_for(lambda: ready(cluster, "alice-session").get("status") == "True", "the pool ready")
    status = pool(cluster, "alice-session")["status"]
    assert wiring.queue_url == status["queueUrl"]
    assert wiring.dead_letter_queue_url == status["deadLetterQueueUrl"]

    # Followed past sent: the engine's acks become events, and the ledger follows them.
    first = send(kube_api, aws, cluster.namespace, "order-1", "--wait", "--until", "read")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "order-1: sent (vendor id 3EB0" in first.stdout
    assert first.stdout.strip().endswith(", read")
    again = send(kube_api, aws, cluster.namespace, "order-1", "--wait")
    assert again.returncode == 0, again.stdout + again.stderr
    assert sent_keys(sent_log) == ["order-1"]  # the same key again was not sent again

    # Fenced: the runner stops the session; the pool says so, and messages wait.
    cluster.patch_account("alice", {"metadata": {"annotations": {"wafleet.io/fenced": "ops-1"}}})
    condition = wait_for(
        lambda: (
            ready(cluster, "alice-session")
            if ready(cluster, "alice-session").get("reason") == "AccountNotConnected"
            else None
        ),
        "the pool not ready while its account is fenced",
    )
    assert "alice is Fenced" in condition["message"]
    assert "messages stay queued" in condition["message"]
    queued = send(kube_api, aws, cluster.namespace, "order-2")
    assert queued.returncode == 0, queued.stdout + queued.stderr  # the queue takes it
    cluster.patch_account("alice", {"metadata": {"annotations": {"wafleet.io/fenced": None}}})
    wait_for(lambda: "order-2" in sent_keys(sent_log), "sent once the fence is lifted")
    assert sent_keys(sent_log) == ["order-1", "order-2"]

    # Deleting the pool takes its wiring off the account and its queues with it.
    cluster.custom.delete_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, PLURAL, "alice-session"
    )
    wait_for(lambda: annotation(cluster, "alice") is None, "the wiring removed")
    wait_for(
        lambda: not [url for url in queue_urls(aws) if "alice-session" in url],
        "the pool's queues deleted (the events pipeline stays: it serves every pool)",
    )
    assert runner.poll() is None  # the session itself runs on


def test_one_session_pool_per_account(
    cluster: Cluster, aws: AwsEndpoint, wafleet_operator: OperatorProcess
) -> None:
    cluster.create_account("bob", {"phoneNumber": "+15550100002", "engine": "local"})
    spec = {"vendor": "session", "accountRef": {"name": "bob"}}
    create_pool(cluster, "bob-1", {**spec, "target": "bob-1"})
    wait_for(lambda: annotation(cluster, "bob"), "the account wired to the first pool")
    create_pool(cluster, "bob-2", {**spec, "target": "bob-2"})
    condition = wait_for(
        lambda: ready(cluster, "bob-2") if ready(cluster, "bob-2").get("reason") else None,
        "the second pool's verdict",
    )
    assert condition["reason"] == "InvalidSpec"
    assert "spec.accountRef.name" in condition["message"]
    assert "bob-1" in condition["message"]
    wiring, _ = wiring_from_annotations({OUTBOUND_ANNOTATION: annotation(cluster, "bob") or ""})
    assert wiring is not None
    assert wiring.pool == "bob-1"  # the first keeps the account
    # The first is AccountNotConnected (no runner plays bob's pod here), not half set up.
    wait_for(
        lambda: ready(cluster, "bob-1").get("reason") == "AccountNotConnected",
        "the first pool waits for its account",
    )
