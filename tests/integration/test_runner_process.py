"""`wafleet-runner session` as real processes: one account, two runners, one active session.

The runners use the DynamoDB lease backend on the moto server and the local
engine, whose activity log (one shared, system-wide monotonic clock) says
exactly when each runner's session was live. The verify test runs its runner
against the real API server instead, as the account's own ServiceAccount.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from session_runner.session.lease.dynamodb import ensure_table
from tests.faults.activity import active_now, overlaps
from tests.harness.devrunner import LocalRunner, start_runner
from tests.harness.devserver import free_port
from tests.harness.kube import KubeApi
from tests.harness.moto_server import AwsEndpoint, flip_a_byte_of_a_chunk
from tests.integration.conftest import Cluster, OperatorProcess, wait_for


@pytest.fixture
def runners(aws: AwsEndpoint, tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    ensure_table(aws.client("dynamodb"), "wafleet-leases")
    activity = tmp_path / "activity.jsonl"
    started: list[LocalRunner] = []

    def start(name: str, **extra: str) -> LocalRunner:
        log = (tmp_path / f"{name}.log").open("wb")
        runner = start_runner(
            name,
            tmp_path,
            extra={
                "AWS_ENDPOINT_URL": aws.endpoint_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "WAFLEET_LEASE_BACKEND": "dynamodb",
                "WAFLEET_LOCAL_ENGINE_ACTIVITY_LOG": str(activity),
                **extra,
            },
            output=log,
        )
        started.append(runner)
        return runner

    yield start, activity
    for runner in started:
        runner.stop()
    for path in sorted(tmp_path.glob("*.log")):
        print(f"--- {path.name} ---\n{path.read_text()[-3000:]}")


def status(runner: LocalRunner) -> dict[str, Any]:
    return runner.status()


def snapshot_store(aws: AwsEndpoint, tmp_path: Path) -> dict[str, str]:
    """A bucket on the moto server and a key file: the runner settings for snapshots."""
    aws.client("s3").create_bucket(Bucket="wafleet-snaps")
    key = tmp_path / "kek"
    key.write_bytes(os.urandom(32))
    return {
        "WAFLEET_SNAPSHOT_BUCKET": "wafleet-snaps",
        "WAFLEET_SNAPSHOT_ENDPOINT_URL": aws.endpoint_url,
        "WAFLEET_SNAPSHOT_ENCRYPTION_KEY_FILE": str(key),
    }


def test_one_session_at_a_time_and_failover_after_kill(runners: tuple[Any, Path]) -> None:
    start, activity = runners
    a, b = start("runner-a"), start("runner-b")
    first = wait_for(lambda: active_now(activity), "one runner active")
    assert len(first) == 1
    leader, standby = (a, b) if first == {"runner-a"} else (b, a)
    wait_for(lambda: status(leader).get("phase") == "Connected", "leader reports Connected")
    wait_for(lambda: status(standby).get("phase") == "Standby", "standby reports Standby")
    token = status(leader)["fencingToken"]

    leader.process.send_signal(signal.SIGKILL)
    leader.process.wait(timeout=10)
    killed_at = {leader.name: time.monotonic()}  # a SIGKILLed engine writes no "inactive" line
    wait_for(
        lambda: active_now(activity) - {leader.name} == {standby.name},
        "standby takes over",
        timeout=30,
    )
    wait_for(lambda: status(standby).get("phase") == "Connected", "new leader reports Connected")
    assert status(standby)["fencingToken"] > token
    assert overlaps(activity, killed_at) == []


def test_graceful_stop_releases_the_lease_for_the_next_runner(runners: tuple[Any, Path]) -> None:
    start, activity = runners
    a = start("runner-a")
    wait_for(lambda: active_now(activity) == {"runner-a"}, "a active")
    b = start("runner-b")
    wait_for(lambda: status(b).get("phase") == "Standby", "b waits")
    a.process.send_signal(signal.SIGTERM)
    assert a.process.wait(timeout=20) == 0
    assert status(a)["phase"] == "Stopped"
    wait_for(lambda: active_now(activity) == {"runner-b"}, "b active after a's release")
    assert overlaps(activity, {}) == []


def test_a_session_snapshotted_on_stop_is_restored_by_the_next_runner(
    runners: tuple[Any, Path], aws: AwsEndpoint, tmp_path: Path
) -> None:
    """The next pod needs no QR scan: the first runner's final snapshot carries the login."""
    snapshots = snapshot_store(aws, tmp_path)
    start, _ = runners
    a = start("runner-a", **snapshots)
    wait_for(lambda: status(a).get("phase") == "Connected", "a logged in (auto login)")
    a.process.send_signal(signal.SIGTERM)
    assert a.process.wait(timeout=30) == 0
    final = status(a)
    assert final["phase"] == "Stopped"
    assert final["lastSnapshot"]["id"]  # bytes may be 0: the login snapshot already holds it all
    assert final.get("snapshotError") is None

    # A fresh pod: empty session dir, and no auto login — only a restored session avoids the QR.
    b = start("runner-b", WAFLEET_LOCAL_ENGINE_AUTO_LOGIN_AFTER_S="", **snapshots)
    wait_for(lambda: status(b).get("phase") == "Connected", "b connected from the restored session")
    keys = [
        o["Key"]
        for o in aws.client("s3").list_objects_v2(Bucket="wafleet-snaps").get("Contents", [])
    ]
    assert any(k.startswith("default/demo/manifests/") for k in keys)
    assert not any(
        b"local-session"
        in aws.client("s3").get_object(Bucket="wafleet-snaps", Key=k)["Body"].read()
        for k in keys
        if "/chunks/" in k
    )


def test_a_fresh_login_is_snapshotted_at_once_so_a_killed_pod_loses_no_login(
    runners: tuple[Any, Path], aws: AwsEndpoint, tmp_path: Path
) -> None:
    """No SIGTERM, no interval elapsed (minimum 30 s): the login alone triggers a snapshot."""
    snapshots = {**snapshot_store(aws, tmp_path), "WAFLEET_SNAPSHOT_INTERVAL_SECONDS": "3600"}
    start, _ = runners
    metrics_port = free_port()
    a = start("runner-a", WAFLEET_METRICS_PORT=str(metrics_port), **snapshots)
    wait_for(lambda: (status(a).get("lastSnapshot") or {}).get("bytes", 0) > 0, "login snapshot")
    # What the pod's metrics port shows a scraper: the lease, the token, the snapshot.
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    assert "wafleet_runner_lease_held 1.0" in scraped
    assert f"wafleet_runner_fencing_token {float(status(a)['fencingToken'])}" in scraped
    assert 'wafleet_snapshots_total{result="ok"} 1.0' in scraped
    a.process.send_signal(signal.SIGKILL)
    a.process.wait(timeout=10)

    b = start("runner-b", WAFLEET_LOCAL_ENGINE_AUTO_LOGIN_AFTER_S="", **snapshots)
    wait_for(
        lambda: status(b).get("phase") == "Connected", "b connected from the login snapshot", 30
    )
    # b's session was restored, not a new login: it did not snapshot again on connect.
    assert status(b).get("lastSnapshot") is None


def test_a_verify_request_checks_the_latest_snapshot_and_marks_a_corrupt_chunk(
    runners: tuple[Any, Path],
    aws: AwsEndpoint,
    tmp_path: Path,
    cluster: Cluster,
    kube_api: KubeApi,
    wafleet_operator: OperatorProcess,
) -> None:
    """wafleet.io/verify-request → status.runner.lastVerify, on the real API server.

    The annotation is read from the account, so this runner competes for the
    account's Lease and reports to its status (not a status file). The operator
    creates the ServiceAccount, Role and Lease; the runner authenticates with a
    TokenRequest token of `waa-demo`, so it has exactly the pod's RBAC. (The
    operator's StatefulSet pod never runs here: no kubelet.)
    """
    ns = kube_api.namespace
    cluster.create_account("demo", {"phoneNumber": "+15550100001", "engine": "local"})
    wait_for(
        lambda: (
            cluster.rbac.read_namespaced_role_binding("waa-demo", ns)
            and cluster.coordination.read_namespaced_lease("waa-demo", ns)
        ),
        "the operator creating the runner's RoleBinding and Lease",
        timeout=120,
    )
    kubeconfig = kube_api.kubeconfig_for_token(
        kube_api.token_for("waa-demo"), tmp_path / "runner-kubeconfig"
    )
    start, _ = runners
    metrics_port = free_port()
    start(
        "runner-a",
        KUBECONFIG=str(kubeconfig),
        WAFLEET_LEASE_BACKEND="kubernetes",
        WAFLEET_NAMESPACE=ns,
        WAFLEET_STATUS_FILE="",
        WAFLEET_METRICS_PORT=str(metrics_port),
        WAFLEET_SNAPSHOT_INTERVAL_SECONDS="3600",
        **snapshot_store(aws, tmp_path),
    )

    def runner() -> dict[str, Any]:
        return dict((cluster.account("demo").get("status") or {}).get("runner") or {})

    def answer(request: str) -> dict[str, Any]:
        cluster.patch_account(
            "demo", {"metadata": {"annotations": {"wafleet.io/verify-request": request}}}
        )
        found = wait_for(
            lambda: (v := runner().get("lastVerify")) and v.get("request") == request and v,
            f"the answer to {request}",
        )
        return dict(found)

    snap = wait_for(
        lambda: (s := runner().get("lastSnapshot")) and s.get("bytes", 0) > 0 and s,
        "login snapshot",
    )
    clean = answer("r1")
    assert (clean["ok"], clean["corruptChunks"], clean["missingChunks"]) == (True, 0, 0)
    assert clean["snapshotId"] == snap["id"]

    s3 = aws.client("s3")
    bad = flip_a_byte_of_a_chunk(s3, "wafleet-snaps", f"{ns}/demo/")

    damaged = answer("r2")
    assert (damaged["ok"], damaged["corruptChunks"], damaged["missingChunks"]) == (False, 1, 0)
    assert damaged["snapshotId"] == snap["id"]
    chunk_id = bad.rsplit("/", 1)[1]
    assert chunk_id in damaged["message"]
    suspects = s3.list_objects_v2(Bucket="wafleet-snaps", Prefix=f"{ns}/demo/suspect/")
    assert [o["Key"] for o in suspects["Contents"]] == [f"{ns}/demo/suspect/{chunk_id}"]
    assert runner()["phase"] == "Connected"  # the engine ran on throughout

    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    assert 'wafleet_snapshot_verifications_total{result="ok"} 1.0' in scraped
    assert 'wafleet_snapshot_verifications_total{result="damaged"} 1.0' in scraped
