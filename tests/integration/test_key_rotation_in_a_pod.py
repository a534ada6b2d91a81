"""Key rotation in an operator-managed pod, on the real control plane.

Before: the pod mounted only the current key (a Secret volume with `items`),
while the runner looks for retired keys (`key.1`, `key.2` …) beside it; after
a rotation every restore failed. Now the whole Secret is mounted: rotate
(new key as `key`, the old one kept as `key.1`), and the next pod restores the
old snapshot without a QR scan, its new snapshots are under the new key, and
`wafleet verify`'s answer says which keys the kept snapshots still need.
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

from session_runner.contract.layout import account_prefix
from session_runner.session.snapshot.crypto import key_id
from session_runner.session.snapshot.store import SnapshotStore
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

BUCKET = "rotation"


def manifest(endpoint: str, login: str) -> str:
    return f"""
apiVersion: wafleet.io/v1alpha1
kind: WhatsAppAccount
metadata:
  name: rot
spec:
  phoneNumber: "+15550100079"
  engine: local
  local: {{login: {login}}}
  lease: {{durationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1}}
  snapshot:
    bucket: {BUCKET}
    endpoint: {endpoint}
    credentialsSecret: {{name: s3}}
    encryptionKeySecret: {{name: kek}}
"""


def runner(cluster: Cluster) -> dict[str, Any]:
    return dict((cluster.account("rot").get("status") or {}).get("runner") or {})


def test_rotate_the_key_and_the_next_pod_restores_and_snapshots_under_the_new_one(
    kube_api: KubeApi,
    cluster: Cluster,
    wafleet_operator: OperatorProcess,
    kubelet: Kubelet,
    aws: AwsEndpoint,
) -> None:
    ns = kube_api.namespace
    first = start_snapshotted_account(
        kube_api,
        cluster,
        aws,
        bucket=BUCKET,
        name="rot",
        manifest=manifest(aws.endpoint_url, "Automatic"),
    )
    old_key = base64.b64decode(cluster.core.read_namespaced_secret("kek", ns).data["key"])

    # Rotate: the new key becomes `key`, the old one stays readable as `key.1`.
    new_key = os.urandom(32)
    cluster.core.patch_namespaced_secret(
        "kek",
        ns,
        {
            "data": {
                "key": base64.b64encode(new_key).decode(),
                "key.1": base64.b64encode(old_key).decode(),
            }
        },
    )
    # From now on only a restore connects the account; the edit rolls the pod.
    kubectl(kube_api, "apply", "-f", "-", input_text=manifest(aws.endpoint_url, "Never"))
    old_pod = cluster.core.read_namespaced_pod("waa-rot-0", ns).metadata.uid
    wait_for(
        lambda: (
            cluster.core.read_namespaced_pod("waa-rot-0", ns).metadata.uid != old_pod
            and runner(cluster).get("phase") == "Connected"
        ),
        "the rolled pod connected from a snapshot taken under the old key",
        180,
    )
    assert runner(cluster).get("loginQr") is None

    # A new snapshot is under the new key.
    kubectl(kube_api, "annotate", "waa", "rot", f"wafleet.io/snapshot-request={time.time()}")
    latest = wait_for(
        lambda: (sid := (runner(cluster).get("lastSnapshot") or {}).get("id")) != first and sid,
        "a snapshot after the rotation",
        120,
    )
    store = SnapshotStore(aws.client("s3"), BUCKET, account_prefix("", ns, "rot"))
    assert store.get_manifest(latest).key_id == key_id(new_key)
    assert store.get_manifest(first).key_id == key_id(old_key)

    # Verify says which keys the kept snapshots still need: the old one, while `first` is kept.
    kubectl(kube_api, "annotate", "waa", "rot", f"wafleet.io/verify-request={time.time()}")
    answer = wait_for(lambda: runner(cluster).get("lastVerify"), "the verification's answer", 120)
    assert answer["ok"] is True
    assert key_id(old_key) in str(answer.get("message"))
