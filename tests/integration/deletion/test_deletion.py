"""`deletionPolicy: Delete` on the real API server: safe, and it always ends.

The real operator deletes real accounts; the snapshots live in S3 on moto.
Safe: the runner is stopped (and its final snapshot has landed) before the
prefix is deleted, and a prefix whose owner.json names another account is never
touched. Always ends: an obstacle retrying cannot remove (the credentials
Secret deleted first, another owner) blocks the deletion with a Warning event
and a SnapshotsDeleted condition, and `wafleet.io/skip-snapshot-deletion:
"true"` lets the account go, its snapshots left in the store.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from kubernetes.client.exceptions import ApiException

from session_runner.contract.annotations import SKIP_SNAPSHOT_DELETION_ANNOTATION
from tests.harness.control_plane.kubelet import Kubelet
from tests.harness.moto_server import AwsEndpoint
from tests.integration.conftest import Cluster, OperatorProcess, wait_for
from tests.integration.test_operator_account import (
    ACCESS_KEY_VALUE,
    SECRET_ACCESS_VALUE,
    SECRET_KEY_VALUE,
    children_exist,
    confirm_pod_gone,
    keys,
    make_secret,
    seed_snapshots,
    snapshot_spec,
)

GROUP, VERSION, PLURAL = "wafleet.io", "v1alpha1", "whatsappaccounts"
OTHER_UID = "00000000-0000-4000-8000-000000000001"


def gone(cluster: Cluster, name: str) -> bool:
    try:
        cluster.account(name)
    except ApiException as exc:
        return exc.status == 404
    return False


def pod_gone(cluster: Cluster, name: str) -> bool:
    try:
        cluster.core.read_namespaced_pod(f"waa-{name}-0", cluster.namespace)
    except ApiException as exc:
        return exc.status == 404
    return False


def delete_account(cluster: Cluster, name: str) -> None:
    cluster.custom.delete_namespaced_custom_object(GROUP, VERSION, cluster.namespace, PLURAL, name)


def own_keys(s3: Any, namespace: str, name: str) -> set[str]:
    return {k for k in keys(s3) if k.startswith(f"prod/{namespace}/{name}/")}


def blocked(cluster: Cluster, name: str) -> dict[str, Any] | None:
    """The SnapshotsDeleted condition once the deletion is blocked, else None."""
    condition = cluster.condition(name, "SnapshotsDeleted")
    if condition and (condition["status"], condition["reason"]) == ("False", "DeletionBlocked"):
        return condition
    return None


def warnings(cluster: Cluster, name: str, reason: str) -> list[Any]:
    return [e for e in cluster.events_for(name) if e.type == "Warning" and e.reason == reason]


def let_go(cluster: Cluster, name: str) -> None:
    """What a person does once the deletion is blocked: leave the snapshots, let it go."""
    cluster.patch_account(
        name, {"metadata": {"annotations": {SKIP_SNAPSHOT_DELETION_ANNOTATION: "true"}}}
    )
    wait_for(lambda: gone(cluster, name), "the account gone after the skip annotation")
    assert any(e.reason == "SnapshotsLeft" for e in cluster.events_for(name))


def with_credentials(cluster: Cluster) -> None:
    make_secret(cluster, "kek", {"key": SECRET_KEY_VALUE})
    make_secret(
        cluster,
        "s3-creds",
        {"AWS_ACCESS_KEY_ID": ACCESS_KEY_VALUE, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_VALUE},
    )


def secret(name: str, data: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def test_a_running_runner_is_stopped_before_its_snapshots_are_deleted(
    cluster: Cluster, wafleet_operator: OperatorProcess, kubelet: Kubelet, aws: AwsEndpoint
) -> None:
    """The runner's final snapshot on SIGTERM lands before the prefix is deleted, so
    nothing is written back once the account is gone."""
    ns = cluster.namespace
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="wafleet-snaps")
    cluster.core.create_namespaced_secret(ns, secret("kek", {"key": os.urandom(32)}))
    cluster.core.create_namespaced_secret(
        ns, secret("s3-creds", {"AWS_ACCESS_KEY_ID": b"testing", "AWS_SECRET_ACCESS_KEY": b"t"})
    )
    spec = snapshot_spec(aws, "Delete")
    spec["lease"] = {"durationSeconds": 4, "renewDeadlineSeconds": 3, "retryPeriodSeconds": 1}
    cluster.create_account("rita", spec)
    wait_for(
        lambda: ((cluster.account("rita").get("status") or {}).get("runner") or {}).get(
            "lastSnapshot"
        ),
        "the running runner's first snapshot",
        timeout=180,
    )
    assert own_keys(s3, ns, "rita")

    delete_account(cluster, "rita")
    wait_for(lambda: gone(cluster, "rita"), "the account gone after its snapshots", timeout=240)
    # The pod is gone, so its process has exited (the kubelet removes a pod only then):
    # nothing can write to the prefix any more.
    wait_for(lambda: pod_gone(cluster, "rita"), "the runner pod gone", timeout=180)
    assert "rita" not in kubelet.pods
    assert own_keys(s3, ns, "rita") == set()
    assert any(e.reason == "SnapshotsDeleted" for e in cluster.events_for("rita"))


def test_a_deleted_credentials_secret_blocks_deletion_until_a_person_lets_go(
    cluster: Cluster, wafleet_operator: OperatorProcess, aws: AwsEndpoint
) -> None:
    """A namespace teardown deletes the Secret first: a few retries, then the deletion
    says it is blocked, and the annotation ends it without deleting anything."""
    with_credentials(cluster)
    created = cluster.create_account("sven", snapshot_spec(aws, "Delete"))
    s3 = seed_snapshots(aws, cluster.namespace, "sven", created["metadata"]["uid"])
    seeded = own_keys(s3, cluster.namespace, "sven")
    wait_for(lambda: children_exist(cluster, "sven"), "children")
    cluster.core.delete_namespaced_secret("s3-creds", cluster.namespace)
    delete_account(cluster, "sven")
    confirm_pod_gone(cluster, "sven")

    condition = wait_for(lambda: blocked(cluster, "sven"), "deletion blocked", timeout=90)
    assert "CredentialsMissing" in condition["message"]
    assert "s3-creds" in condition["message"]
    assert SKIP_SNAPSHOT_DELETION_ANNOTATION in condition["message"]
    wait_for(lambda: warnings(cluster, "sven", "SnapshotDeletionBlocked"), "a Warning event")
    assert not gone(cluster, "sven")  # the finalizer holds
    assert own_keys(s3, cluster.namespace, "sven") == seeded

    let_go(cluster, "sven")
    assert own_keys(s3, cluster.namespace, "sven") == seeded


def test_a_prefix_owned_by_another_uid_is_never_deleted(
    cluster: Cluster, wafleet_operator: OperatorProcess, aws: AwsEndpoint
) -> None:
    """owner.json names a predecessor of the same name (another uid): refused at once."""
    with_credentials(cluster)
    cluster.create_account("tove", snapshot_spec(aws, "Delete"))
    s3 = seed_snapshots(aws, cluster.namespace, "tove", OTHER_UID)
    seeded = own_keys(s3, cluster.namespace, "tove")
    wait_for(lambda: children_exist(cluster, "tove"), "children")
    delete_account(cluster, "tove")
    confirm_pod_gone(cluster, "tove")

    condition = wait_for(lambda: blocked(cluster, "tove"), "deletion refused", timeout=90)
    assert "ForeignOwner" in condition["message"]
    assert OTHER_UID in condition["message"]
    assert own_keys(s3, cluster.namespace, "tove") == seeded

    let_go(cluster, "tove")
    assert own_keys(s3, cluster.namespace, "tove") == seeded
    assert f"prod/{cluster.namespace}/other/latest" in keys(s3)
