"""spec.restoreFrom is one-shot, on the real control plane: it rolls the session back once.

Before: left in the spec, the snapshot id rolled the session back on every
restart (everything since was lost each time), and once retention collected
that snapshot every start failed. Now the operator records the request in
status.restoreRequest, the runner that carries it out reports
status.runner.restoredFrom, the request is marked consumed, the rolled-back
session is snapshotted as the new latest, and later starts restore the
latest. Retention keeps the snapshot the spec names.
"""

from __future__ import annotations

import re
import time
from typing import Any

from tests.harness.control_plane.kubelet import Kubelet
from tests.harness.kube import KubeApi
from tests.harness.moto_server import AwsEndpoint
from tests.integration.conftest import (
    Cluster,
    OperatorProcess,
    kubectl,
    start_snapshotted_account,
    wait_for,
)

BUCKET = "restore-from"


def manifest(endpoint: str) -> str:
    return f"""
apiVersion: wafleet.io/v1alpha1
kind: WhatsAppAccount
metadata:
  name: rb
spec:
  phoneNumber: "+15550100077"
  engine: local
  lease: {{durationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1}}
  snapshot:
    bucket: {BUCKET}
    endpoint: {endpoint}
    credentialsSecret: {{name: s3}}
    encryptionKeySecret: {{name: kek}}
    retention: {{keepLast: 2}}
"""


def status(cluster: Cluster) -> dict[str, Any]:
    return dict(cluster.account("rb").get("status") or {})


def last_snapshot_id(cluster: Cluster) -> str | None:
    snap = (status(cluster).get("runner") or {}).get("lastSnapshot") or {}
    return snap.get("id")


def manifests(aws: AwsEndpoint, ns: str) -> set[str]:
    listing = aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"{ns}/rb/manifests/")
    return {o["Key"].rsplit("/", 1)[1].removesuffix(".json") for o in listing.get("Contents", [])}


def test_restore_from_rolls_back_once_and_later_starts_restore_the_latest(
    kube_api: KubeApi,
    cluster: Cluster,
    wafleet_operator: OperatorProcess,
    kubelet: Kubelet,
    aws: AwsEndpoint,
) -> None:
    ns = kube_api.namespace
    first = start_snapshotted_account(
        kube_api, cluster, aws, bucket=BUCKET, name="rb", manifest=manifest(aws.endpoint_url)
    )

    # A second snapshot, on demand: `first` is now an older one to roll back to.
    kubectl(kube_api, "annotate", "waa", "rb", f"wafleet.io/snapshot-request={time.time()}")
    second = wait_for(
        lambda: (sid := last_snapshot_id(cluster)) != first and sid, "an on-demand snapshot"
    )

    # Roll back: the pod template changes, the new pod restores `first`, once.
    kubectl(
        kube_api,
        "patch",
        "waa",
        "rb",
        "--type=merge",
        "-p",
        f'{{"spec":{{"restoreFrom":"{first}"}}}}',
    )
    request = wait_for(
        lambda: (r := status(cluster).get("restoreRequest") or {}).get("consumed") and r,
        "the restore request consumed",
        180,
    )
    assert request["snapshotId"] == first
    assert status(cluster)["runner"]["restoredFrom"]["snapshotId"] == first
    # The rolled-back session becomes the latest snapshot, so a restart keeps it.
    rolled = wait_for(
        lambda: (sid := last_snapshot_id(cluster)) not in (first, second) and sid,
        "the rolled-back session snapshotted",
        120,
    )
    # Retention keeps two, plus the one the spec still names.
    assert first in manifests(aws, ns)

    # A lost pod: the replacement restores the latest, not `first` again.
    old_uid = cluster.core.read_namespaced_pod("waa-rb-0", ns).metadata.uid
    kubectl(kube_api, "delete", "pod", "waa-rb-0", "--wait=false")

    def replacement_restored() -> str | None:
        pod = kubelet.pods.get("waa-rb-0")
        if pod is None or pod.uid == old_uid:
            return None
        logs = pod.logs()
        return logs if "restored snapshot" in logs else None

    logs = wait_for(replacement_restored, "the replacement pod restored a snapshot", 180)
    restored = re.findall(r"restored snapshot (\S+?)\"", logs)
    # The deleted pod's final snapshot (or the rolled-back one) is the latest: ids sort by time.
    assert len(restored) == 1
    assert restored[0] >= rolled
    assert restored[0] != first
    kubectl(kube_api, "wait", "--for=condition=Ready", "waa/rb", "--timeout=120s")
    assert status(cluster)["restoreRequest"]["consumed"] is True
