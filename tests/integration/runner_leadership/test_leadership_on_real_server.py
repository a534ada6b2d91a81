"""Issue 13 on the real API server and the moto S3 server: a runner never keeps the account
offline while it holds the Lease.

`wafleet-runner session` runs as a real process with the Kubernetes lease
backend, the local engine and the real snapshot layer against moto. The
account exists (the CRDs are installed) but no operator runs: the runner
creates its Lease itself when it is missing, as it does standalone, so the
test controls the Lease exactly (pre-created with history, deleted as drift
repair or an account re-created with `deletionPolicy: Retain` would).
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from session_runner.contract import layout
from session_runner.session.snapshot.store import SnapshotStore
from tests.harness.devrunner import LocalRunner, start_runner
from tests.harness.devserver import free_port
from tests.harness.kube import KubeApi
from tests.harness.moto_server import AwsEndpoint
from tests.harness.waiting import wait_for
from tests.integration.conftest import Cluster

ACCOUNT = "demo"
LEASE = f"waa-{ACCOUNT}"
BUCKET = "wafleet-snaps"


@pytest.fixture
def account(cluster: Cluster) -> Cluster:
    cluster.create_account(ACCOUNT, {"phoneNumber": "+15550100001", "engine": "local"})
    return cluster


#: moto takes any keys; a long one, so the teardown's secret scan looks for it.
AWS_SECRET = "leadership/secret/" + os.urandom(12).hex()


@pytest.fixture
def runner(
    kube_api: KubeApi, aws: AwsEndpoint, tmp_path: Path
) -> Iterator[Callable[..., LocalRunner]]:
    """Start `wafleet-runner session` for the account, as admin, with snapshots on moto."""
    started: list[LocalRunner] = []

    def start(
        key: bytes | None = None,
        *,
        bucket: bool = True,
        name: str = f"waa-{ACCOUNT}-0",
        **extra: str,
    ) -> LocalRunner:
        if bucket:
            aws.client("s3").create_bucket(Bucket=BUCKET)
        key_file = tmp_path / f"kek-{len(started)}"
        key_file.write_bytes(key if key is not None else os.urandom(32))
        log_path = tmp_path / f"runner-{len(started)}.log"
        log = log_path.open("wb")
        # Searched for at teardown (tests/harness/secret_scan.py): the key, the S3 secret.
        kube_api.known_secrets[key_file.name] = key_file.read_bytes()
        kube_api.known_secrets["AWS_SECRET_ACCESS_KEY"] = AWS_SECRET.encode()
        kube_api.log_files[log_path.name] = log_path
        proc = start_runner(
            name,
            tmp_path,
            account=ACCOUNT,
            extra={
                "KUBECONFIG": str(kube_api.kubeconfig),
                "WAFLEET_LEASE_BACKEND": "kubernetes",
                "WAFLEET_NAMESPACE": kube_api.namespace,
                "WAFLEET_STATUS_FILE": "",
                "AWS_ACCESS_KEY_ID": "AKIAWAFLEETLEADER001",
                "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
                "AWS_DEFAULT_REGION": "us-east-1",
                "WAFLEET_SNAPSHOT_BUCKET": BUCKET,
                "WAFLEET_SNAPSHOT_ENDPOINT_URL": aws.endpoint_url,
                "WAFLEET_SNAPSHOT_ENCRYPTION_KEY_FILE": str(key_file),
                "WAFLEET_SNAPSHOT_INTERVAL_SECONDS": "3600",  # snapshots on request only
                **extra,
            },
            output=log,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
    for path in sorted(tmp_path.glob("runner-*.log")):
        print(f"--- {path.name} ---\n{path.read_text()[-4000:]}")


def runner_status(cluster: Cluster) -> dict[str, Any]:
    return dict((cluster.account(ACCOUNT).get("status") or {}).get("runner") or {})


def lease(cluster: Cluster) -> Any:
    return cluster.coordination.read_namespaced_lease(LEASE, cluster.namespace)


def pointer_token(aws: AwsEndpoint, namespace: str) -> int | None:
    store = SnapshotStore(aws.client("s3"), BUCKET, layout.account_prefix("", namespace, ACCOUNT))
    pointer, _ = store.read_pointer()
    return pointer.fencing_token if pointer is not None else None


def healthz(port: int) -> int:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_a_recreated_lease_takes_a_token_above_the_store_and_snapshots_go_on(
    account: Cluster, runner: Callable[..., LocalRunner], aws: AwsEndpoint
) -> None:
    """Before: the re-created Lease restarted at 0, every later snapshot was refused
    (FencedOutError latest-pointer token 6 > ours 0) while the runner kept the Lease."""
    ns = account.namespace
    # The Lease has history (five holders before this runner).
    account.coordination.create_namespaced_lease(
        ns,
        client.V1Lease(
            metadata=client.V1ObjectMeta(name=LEASE),
            spec=client.V1LeaseSpec(lease_duration_seconds=3, lease_transitions=5),
        ),
    )
    runner()
    first = wait_for(
        lambda: (s := runner_status(account)).get("lastSnapshot") and s, "the login snapshot", 60
    )
    assert first["fencingToken"] == 6
    assert pointer_token(aws, ns) == 6

    account.coordination.delete_namespaced_lease(LEASE, ns)  # drift repair will re-create it

    recreated = wait_for(
        lambda: (spec := lease(account).spec).holder_identity and spec,
        "the runner re-acquiring a re-created Lease",
        60,
    )
    assert recreated.lease_transitions > 6  # above the store's token, not back at 0
    token = recreated.lease_transitions
    wait_for(
        lambda: (
            (s := runner_status(account)).get("phase") == "Connected"
            and s.get("fencingToken") == token
        ),
        "the runner connected again with the new token",
        60,
    )

    account.patch_account(
        ACCOUNT, {"metadata": {"annotations": {"wafleet.io/snapshot-request": "after-recreate"}}}
    )
    after = wait_for(
        lambda: (
            (s := runner_status(account)).get("lastSnapshot", {}).get("id")
            != first["lastSnapshot"]["id"]
            and s
        ),
        "a snapshot taken after the Lease was re-created",
        60,
    )
    assert after.get("snapshotError") is None
    assert after["phase"] == "Connected"
    assert pointer_token(aws, ns) == token
    assert lease(account).spec.lease_transitions == token  # still held, never fenced


def failed_in_a_row(status: dict[str, Any]) -> int | None:
    """N of a Failed report's "(N failed starts in a row…)"; None for any other report."""
    found = re.search(r"\((\d+) failed starts in a row", str(status.get("message") or ""))
    return int(found.group(1)) if status.get("phase") == "Failed" and found else None


def test_a_restore_that_fails_releases_the_lease_reports_failed_and_fails_liveness(
    account: Cluster, runner: Callable[..., LocalRunner]
) -> None:
    """The bucket does not exist: the restore raises. Before: the runner kept the Lease with
    no engine, status said Restoring, /healthz answered 200."""
    health_port = free_port()
    proc = runner(bucket=False, WAFLEET_HEALTH_PORT=str(health_port))
    failed = wait_for(
        lambda: (s := runner_status(account)).get("phase") == "Failed" and s,
        "status.runner Failed",
        60,
    )
    assert failed["fencingToken"] is not None  # written while held: the operator takes it
    assert "start failed: NoSuchBucket" in failed["message"]
    assert "lease released" in failed["message"]
    # The real Lease object: no holder (released, not left to expire).
    wait_for(lambda: not lease(account).spec.holder_identity, "the Lease released", 30)
    # It keeps trying with backoff; after five failed starts in a row, liveness fails.
    wait_for(lambda: healthz(health_port) == 500, "/healthz failing after repeated failures", 60)
    # Between its failed starts it competes again, so a read may find the next start's
    # "lease acquired": the Failed reports say how many failed in a row, and that liveness
    # fails from the fifth on.

    def fifth_or_later() -> dict[str, Any] | None:
        status = runner_status(account)
        return status if (failed_in_a_row(status) or 0) >= 5 else None

    report = wait_for(fifth_or_later, "a Failed report counting five failed starts in a row", 60)
    assert "/healthz fails so the pod restarts" in report["message"]
    assert proc.process.poll() is None  # the kubelet restarts it, not the runner itself


def test_an_unreachable_store_is_reported_and_no_lease_is_claimed_on_an_unproven_token(
    account: Cluster, runner: Callable[..., LocalRunner]
) -> None:
    """The store's latest token cannot be read: a claim could take a token storage refuses,
    so the runner claims nothing and says why (before: status said nothing at all)."""
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    runner(bucket=False, WAFLEET_SNAPSHOT_ENDPOINT_URL=nowhere)
    failed = wait_for(
        lambda: (s := runner_status(account)).get("phase") == "Failed" and s,
        "status.runner Failed",
        60,
    )
    assert "cannot read the fencing token floor" in failed["message"]
    assert "EndpointConnectionError" in failed["message"]
    assert failed.get("fencingToken") is None
    leases = account.coordination.list_namespaced_lease(account.namespace).items
    holders = [x.spec.holder_identity for x in leases if x.metadata.name == LEASE]
    assert not any(holders)  # never claimed (the Lease was not even created)


def test_a_key_of_the_wrong_size_is_reported_before_the_runner_exits(
    account: Cluster, runner: Callable[..., LocalRunner]
) -> None:
    """Before: exit 2 with the reason only in the pod log; status said nothing."""
    key = os.urandom(12)
    proc = runner(key)
    assert proc.process.wait(timeout=60) == 2
    status = runner_status(account)
    assert status["phase"] == "Failed"
    assert status["message"].startswith("spec.snapshot.encryptionKeySecret: ")
    assert "12 bytes" in status["message"]  # the length only, never the value
    assert key.hex() not in str(status)
    assert repr(key) not in str(status)


def test_a_start_up_failure_never_wipes_a_live_leaders_report(
    account: Cluster, runner: Callable[..., LocalRunner]
) -> None:
    """A duplicate pod with a bad key while a healthy leader runs: the leader's report stays."""
    leader = runner()
    connected = wait_for(
        lambda: (s := runner_status(account)).get("phase") == "Connected" and s, "leader", 60
    )
    duplicate = runner(os.urandom(12), bucket=False, name=f"waa-{ACCOUNT}-dup")
    assert duplicate.process.wait(timeout=60) == 2
    status = runner_status(account)
    assert status["phase"] == "Connected"
    assert status["fencingToken"] == connected["fencingToken"]
    leader.process.send_signal(signal.SIGTERM)
    assert leader.process.wait(timeout=30) == 0
