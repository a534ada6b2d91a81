"""The operator and a real runner process together, on the real API server: the runner holds
the account's Lease, reports under status.runner, and the operator turns that into the phase.

The runner plays the pod: it authenticates as the account's ServiceAccount
(`waa-<name>`, a TokenRequest token), so it has exactly the Role the operator
gave it, as in a cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.moto_server import AwsEndpoint, flip_a_byte_of_a_chunk
from tests.integration.conftest import Cluster, OperatorProcess, run_wafleet, wait_for
from tests.integration.test_operator_account import make_secret

RUNNER = Path(sys.executable).with_name("wafleet-runner")


@pytest.fixture
def runner_process(cluster: Cluster, kube_api: Any, tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start(account: str, **extra: str) -> subprocess.Popen[bytes]:
        """The runner as the pod starts it: as the account's ServiceAccount, not the admin."""
        # The operator made the ServiceAccount before the StatefulSet callers wait for.
        token = kube_api.token_for(f"waa-{account}")
        kubeconfig = kube_api.kubeconfig_for_token(token, tmp_path / account / "kubeconfig")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("WAFLEET_")},
            "KUBECONFIG": str(kubeconfig),
            "WAFLEET_ACCOUNT_NAME": account,
            "WAFLEET_NAMESPACE": kube_api.namespace,
            "WAFLEET_PHONE_NUMBER": "+15550100001",
            "WAFLEET_ENGINE": "local",
            "WAFLEET_POD_NAME": f"waa-{account}-0",
            "WAFLEET_LEASE_DURATION_SECONDS": "3",
            "WAFLEET_LEASE_RENEW_DEADLINE_SECONDS": "2",
            "WAFLEET_LEASE_RETRY_PERIOD_SECONDS": "0.5",
            "WAFLEET_SESSION_DIR": str(tmp_path / account / "session"),
            "WAFLEET_HEALTH_PORT": "0",
            "WAFLEET_METRICS_PORT": "0",
            "WAFLEET_LOCAL_ENGINE_AUTO_LOGIN_AFTER_S": "0",
            **extra,
        }
        log_path = tmp_path / f"runner-{account}.log"
        log = log_path.open("wb")
        # Searched at teardown for the namespace's Secrets and this token (secret_scan.py).
        kube_api.log_files[log_path.name] = log_path
        kube_api.known_secrets[f"token of waa-{account}"] = token.encode()
        process = subprocess.Popen(
            [str(RUNNER), "session"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    for path in sorted(tmp_path.glob("runner-*.log")):
        print(f"--- {path.name} ---\n{path.read_text()[-3000:]}")


def phase(cluster: Cluster, name: str) -> str | None:
    return (cluster.account(name).get("status") or {}).get("phase")


def runner_status(cluster: Cluster, name: str) -> dict[str, Any]:
    """status.runner, or {} while nobody has written status yet (predicates run before that)."""
    return ((cluster.account(name).get("status") or {}).get("runner")) or {}


def runner_phase(cluster: Cluster, name: str) -> str | None:
    return runner_status(cluster, name).get("phase")


def test_runner_reports_reach_the_phase_and_the_fence_stops_the_session(
    cluster: Cluster, wafleet_operator: OperatorProcess, runner_process: Any
) -> None:
    cluster.create_account("sam", {"phoneNumber": "+15550100001", "engine": "local"})
    wait_for(
        lambda: cluster.statefulset("sam"), "the operator's children (the StatefulSet comes last)"
    )
    cluster.mark_pod_ready("sam")  # stand in for the kubelet: the runner below plays the pod
    runner = runner_process("sam")

    wait_for(
        lambda: phase(cluster, "sam") == "Connected", "phase Connected from the runner's report"
    )
    status = cluster.account("sam")["status"]
    assert status["leaseHolder"] == "waa-sam-0"
    lease = cluster.coordination.read_namespaced_lease("waa-sam", cluster.namespace)
    assert lease.spec.holder_identity.startswith("waa-sam-0_")
    assert status["fencingToken"] == lease.spec.lease_transitions
    assert cluster.condition("sam", "Ready")["status"] == "True"  # type: ignore[index]

    cluster.patch_account("sam", {"metadata": {"annotations": {"wafleet.io/fenced": "incident-7"}}})
    wait_for(
        lambda: runner_phase(cluster, "sam") == "Fenced",
        "runner fenced itself",
    )
    wait_for(
        lambda: (
            not cluster.coordination.read_namespaced_lease(
                "waa-sam", cluster.namespace
            ).spec.holder_identity
        ),
        "lease released",
    )
    assert phase(cluster, "sam") == "Fenced"
    assert runner.poll() is None  # the pod stays up for incident work

    cluster.patch_account("sam", {"metadata": {"annotations": {"wafleet.io/fenced": None}}})
    wait_for(lambda: phase(cluster, "sam") == "Connected", "session back after the fence is lifted")

    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=20) == 0
    wait_for(
        lambda: runner_phase(cluster, "sam") == "Stopped",
        "runner reports Stopped",
    )
    assert not cluster.coordination.read_namespaced_lease(
        "waa-sam", cluster.namespace
    ).spec.holder_identity


def start_snapshotting_account(
    cluster: Cluster, aws: AwsEndpoint, runner_process: Any, tmp_path: Path, name: str
) -> None:
    """A local-engine account snapshotting to bucket `snaps` on moto, and its runner."""
    aws.client("s3").create_bucket(Bucket="snaps")
    key = tmp_path / "kek"
    key.write_bytes(os.urandom(32))
    make_secret(cluster, "kek", {"key": "mounted-into-the-pod-32-bytes-ok"})
    snapshot = {
        "bucket": "snaps",
        "endpoint": aws.endpoint_url,
        "encryptionKeySecret": {"name": "kek"},
    }
    cluster.create_account(
        name, {"phoneNumber": "+15550100001", "engine": "local", "snapshot": snapshot}
    )
    wait_for(lambda: cluster.statefulset(name), "children")
    runner_process(
        name,
        WAFLEET_SNAPSHOT_BUCKET="snaps",
        WAFLEET_SNAPSHOT_ENDPOINT_URL=aws.endpoint_url,
        WAFLEET_SNAPSHOT_ENCRYPTION_KEY_FILE=str(key),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )


def test_on_demand_snapshot_from_the_cli(
    cluster: Cluster,
    kube_api: Any,
    aws: AwsEndpoint,
    wafleet_operator: OperatorProcess,
    runner_process: Any,
    tmp_path: Path,
) -> None:
    start_snapshotting_account(cluster, aws, runner_process, tmp_path, "vera")
    wait_for(
        lambda: runner_phase(cluster, "vera") == "Connected",
        "connected",
    )
    # The new login is snapshotted at once; the on-demand one must come after it.
    login = wait_for(lambda: runner_status(cluster, "vera").get("lastSnapshot"), "login snapshot")
    done = run_wafleet(kube_api.kubeconfig, "snapshot", "vera", "-n", kube_api.namespace)
    assert done.returncode == 0, done.stderr
    snap = wait_for(
        lambda: (
            (last := runner_status(cluster, "vera").get("lastSnapshot"))
            and last["id"] != login["id"]
            and last
        ),
        "the requested snapshot reported",
    )
    # The login snapshot uploaded the session; the on-demand one only what changed since.
    assert login["bytes"] > 0
    assert snap["bytes"] <= login["bytes"]
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket="snaps").get("Contents", [])]
    assert f"{cluster.namespace}/vera/manifests/{snap['id']}.json" in keys
    healthy = wait_for(
        lambda: (c := cluster.condition("vera", "SnapshotHealthy")) and c["status"] == "True" and c,
        "SnapshotHealthy=True",
    )
    assert healthy["reason"] == "SnapshotTaken"
    assert cluster.account("vera")["status"]["lastSnapshot"]["id"] == snap["id"]


def test_login_qr_reaches_status_and_the_cli_draws_it(
    cluster: Cluster, kube_api: Any, wafleet_operator: OperatorProcess, runner_process: Any
) -> None:
    """A fresh session with no login: the engine's QR goes runner → status.runner → status.loginQr."""
    cluster.create_account("wes", {"phoneNumber": "+15550100001", "engine": "local"})
    wait_for(lambda: cluster.statefulset("wes"), "children")
    cluster.mark_pod_ready("wes")
    runner_process("wes", WAFLEET_LOCAL_ENGINE_AUTO_LOGIN_AFTER_S="none")
    status = wait_for(
        lambda: (
            (s := cluster.account("wes").get("status") or {}).get("phase") == "AwaitingLogin" and s
        ),
        "phase AwaitingLogin",
    )
    assert status["loginQr"]
    assert cluster.condition("wes", "LoggedIn")["reason"] == "AwaitingLogin"  # type: ignore[index]
    drawn = run_wafleet(kube_api.kubeconfig, "qr", "wes", "-n", kube_api.namespace)
    assert drawn.returncode == 0, drawn.stderr
    assert "█" in drawn.stdout


def test_verify_from_the_cli_finds_a_damaged_snapshot_and_the_next_snapshot_repairs_it(
    cluster: Cluster,
    kube_api: Any,
    aws: AwsEndpoint,
    wafleet_operator: OperatorProcess,
    runner_process: Any,
    tmp_path: Path,
) -> None:
    """The whole chain: CLI → annotation → runner → status.runner.lastVerify → condition."""
    s3 = aws.client("s3")
    start_snapshotting_account(cluster, aws, runner_process, tmp_path, "vale")

    def wafleet(*args: str) -> subprocess.CompletedProcess[str]:
        return run_wafleet(kube_api.kubeconfig, *args, "-n", kube_api.namespace, timeout=90)

    def healthy() -> dict[str, Any]:
        return cluster.condition("vale", "SnapshotHealthy") or {}

    wait_for(
        lambda: runner_phase(cluster, "vale") == "Connected",
        "connected",
    )
    first = wait_for(  # a fresh login is snapshotted at once
        lambda: runner_status(cluster, "vale").get("lastSnapshot"), "login snapshot"
    )
    whole = wafleet("verify", "vale", "--wait", "--timeout", "60")
    assert whole.returncode == 0, (whole.stdout, whole.stderr)
    assert "vale: OK" in whole.stdout
    assert first["id"] in whole.stdout

    flip_a_byte_of_a_chunk(s3, "snaps", f"{cluster.namespace}/vale/")
    damaged = wafleet("verify", "vale", "--wait", "--timeout", "60")
    assert damaged.returncode == 1, (damaged.stdout, damaged.stderr)
    assert f"snapshot {first['id']} has 1 corrupt and 0 missing chunk(s)" in damaged.stdout
    wait_for(lambda: healthy().get("reason") == "SnapshotCorrupt", "SnapshotCorrupt")
    wait_for(
        lambda: [e for e in cluster.events_for("vale") if e.reason == "SnapshotCorrupt"],
        "a Warning event",
    )

    assert wafleet("snapshot", "vale").returncode == 0  # uploads the suspect chunk again
    wait_for(lambda: healthy().get("status") == "True", "healthy again after the next snapshot")
    latest = cluster.account("vale")["status"]["runner"]["lastSnapshot"]
    assert latest["id"] > first["id"]
    assert latest["bytes"] > 0
    again = wafleet("verify", "vale", "--wait", "--timeout", "60")
    assert again.returncode == 0, (again.stdout, again.stderr)
    assert latest["id"] in again.stdout
