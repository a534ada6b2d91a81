"""End to end on the real control plane: `kubectl apply` → StatefulSet → Pod → a runner
holding the Lease → `kubectl wait` Ready → a snapshot in S3 (moto) → `kubectl delete pod`
→ the replacement pod restores the session.

The pod's process is started by the kubelet stand-in (tests/harness/control_plane/kubelet.py)
with exactly what the StatefulSet's pod template declares: the runner's env as the
operator renders it, the S3 keys from the credentials Secret, the encryption key
mounted from its Secret, and the pod's own ServiceAccount token (so the runner's
RBAC is the one the operator wrote).
"""

from __future__ import annotations

from typing import Any

from tests.harness.control_plane.kubelet import Kubelet
from tests.harness.kube import KubeApi
from tests.harness.moto_server import AwsEndpoint
from tests.integration.conftest import (
    Cluster,
    OperatorProcess,
    create_snapshot_secrets,
    kubectl,
    wait_for,
)


def account_manifest(endpoint: str) -> str:
    return f"""
apiVersion: wafleet.io/v1alpha1
kind: WhatsAppAccount
metadata:
  name: e2e
spec:
  phoneNumber: "+15550100042"
  engine: local
  lease: {{durationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1}}
  snapshot:
    bucket: e2e-snaps
    endpoint: {endpoint}
    credentialsSecret: {{name: s3}}
    encryptionKeySecret: {{name: kek}}
"""


def runner_status(cluster: Cluster) -> dict[str, Any]:
    return dict((cluster.account("e2e").get("status") or {}).get("runner") or {})


def test_apply_pod_lease_ready_snapshot_delete_pod_and_the_replacement_restores(
    kube_api: KubeApi,
    cluster: Cluster,
    wafleet_operator: OperatorProcess,
    kubelet: Kubelet,
    aws: AwsEndpoint,
) -> None:
    ns = kube_api.namespace
    aws.client("s3").create_bucket(Bucket="e2e-snaps")
    create_snapshot_secrets(cluster, "e2e")
    # The simulated peer of a local account logs in at once (spec.local.login: Automatic).
    kubectl(kube_api, "apply", "-f", "-", input_text=account_manifest(aws.endpoint_url))
    kubectl(kube_api, "wait", "--for=condition=Ready", "waa/e2e", "--timeout=180s")

    # The StatefulSet controller made the pod; its runner holds the Lease as the pod.
    pod = cluster.core.read_namespaced_pod("waa-e2e-0", ns)
    assert pod.status.phase == "Running"
    lease = cluster.coordination.read_namespaced_lease("waa-e2e", ns)
    assert lease.spec.holder_identity.startswith("waa-e2e-0_")
    first_token = lease.spec.lease_transitions
    assert cluster.account("e2e")["status"]["fencingToken"] == first_token
    wait_for(
        lambda: cluster.statefulset("e2e").status.ready_replicas == 1,
        "the StatefulSet counts the ready pod",
    )

    # The fresh login was snapshotted to S3 on moto, encrypted.
    wait_for(lambda: runner_status(cluster).get("lastSnapshot"), "a snapshot after the login")
    keys = [
        o["Key"] for o in aws.client("s3").list_objects_v2(Bucket="e2e-snaps").get("Contents", [])
    ]
    assert f"{ns}/e2e/latest.json" in keys
    assert any(k.startswith(f"{ns}/e2e/chunks/") for k in keys)

    # From now on nobody scans a QR: only a session restored from the snapshot can connect.
    # The pod template changes, so the StatefulSet controller replaces the pod itself.
    def replaced_and_connected(old_uid: str, after_token: int) -> int | None:
        current = cluster.core.read_namespaced_pod("waa-e2e-0", ns)
        token = cluster.coordination.read_namespaced_lease("waa-e2e", ns).spec.lease_transitions
        connected = runner_status(cluster).get("phase") == "Connected"
        fresh = current.metadata.uid != old_uid and (token or 0) > after_token
        return int(token) if fresh and connected else None

    kubectl(
        kube_api,
        "patch",
        "waa",
        "e2e",
        "--type=merge",
        "-p",
        '{"spec":{"local":{"login":"Never"}}}',
    )
    rolled_token = wait_for(
        lambda: replaced_and_connected(pod.metadata.uid, first_token),
        "the rolled pod connected from the snapshot",
        180,
    )

    # A lost pod: the controller makes a new one, which restores the session again.
    rolled_uid = cluster.core.read_namespaced_pod("waa-e2e-0", ns).metadata.uid
    kubectl(kube_api, "delete", "pod", "waa-e2e-0", "--wait=false")
    wait_for(
        lambda: replaced_and_connected(rolled_uid, rolled_token),
        "the replacement pod connected from the snapshot",
        180,
    )
    kubectl(kube_api, "wait", "--for=condition=Ready", "waa/e2e", "--timeout=120s")
    status = cluster.account("e2e")["status"]
    assert status["phase"] == "Connected"
    assert status["fencingToken"] > rolled_token > first_token
    assert status.get("loginQr") is None  # nobody had to scan again
