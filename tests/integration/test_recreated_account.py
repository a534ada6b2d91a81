"""A recreated account never gets its predecessor's session, on the real control plane.

Before: owner.json named only namespace/name, so an account deleted with
deletionPolicy Retain and created again under the same name restored the old
WhatsApp session (whoever recreated it got someone else's login). Now the
store is bound to the account's uid: the new account's runner refuses to
restore, says why in status (phase Failed, the Ready condition's message
names both uids and the field to set) and releases its Lease; setting
spec.snapshot.adoptFromUid to the old uid takes the backup over.
"""

from __future__ import annotations

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

BUCKET = "recreated"


def manifest(endpoint: str, login: str, adopt: str | None = None) -> str:
    adopt_line = f"\n    adoptFromUid: {adopt}" if adopt else ""
    return f"""
apiVersion: wafleet.io/v1alpha1
kind: WhatsAppAccount
metadata:
  name: re
spec:
  phoneNumber: "+15550100078"
  engine: local
  local: {{login: {login}}}
  deletionPolicy: Retain
  lease: {{durationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1}}
  snapshot:
    bucket: {BUCKET}
    endpoint: {endpoint}
    credentialsSecret: {{name: s3}}
    encryptionKeySecret: {{name: kek}}{adopt_line}
"""


def status(cluster: Cluster) -> dict[str, Any]:
    return dict(cluster.account("re").get("status") or {})


def ready_message(cluster: Cluster) -> str:
    ready = next((c for c in status(cluster).get("conditions") or () if c["type"] == "Ready"), {})
    return str(ready.get("message") or "")


def test_a_recreated_account_refuses_the_old_store_until_it_adopts_it(
    kube_api: KubeApi,
    cluster: Cluster,
    wafleet_operator: OperatorProcess,
    kubelet: Kubelet,
    aws: AwsEndpoint,
) -> None:
    ns = kube_api.namespace
    start_snapshotted_account(
        kube_api,
        cluster,
        aws,
        bucket=BUCKET,
        name="re",
        manifest=manifest(aws.endpoint_url, "Automatic"),
    )
    old_uid = cluster.account("re")["metadata"]["uid"]

    kubectl(kube_api, "delete", "waa", "re", "--timeout=120s")
    wait_for(lambda: not kubelet.pods.get("waa-re-0"), "the old pod gone", 120)

    # Same name, new uid, and nobody will scan a QR: only a restore could connect it.
    kubectl(kube_api, "apply", "-f", "-", input_text=manifest(aws.endpoint_url, "Never"))
    new_uid = cluster.account("re")["metadata"]["uid"]
    assert new_uid != old_uid
    message = wait_for(
        lambda: status(cluster).get("phase") == "Failed" and ready_message(cluster),
        "the new account refusing the old store",
        120,
    )
    assert old_uid in message
    assert "adoptFromUid" in message
    lease = cluster.coordination.read_namespaced_lease("waa-re", ns)
    assert not lease.spec.holder_identity  # a leader that cannot lead lets go

    # The person decides the backup is theirs: the session comes back without a QR scan.
    kubectl(
        kube_api,
        "apply",
        "-f",
        "-",
        input_text=manifest(aws.endpoint_url, "Never", adopt=old_uid),
    )
    kubectl(kube_api, "wait", "--for=condition=Ready", "waa/re", "--timeout=180s")
    assert status(cluster)["phase"] == "Connected"
    assert status(cluster).get("loginQr") is None
