"""The real operator reconciling WhatsAppAccounts against the API emulator over HTTP."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.moto_server import AwsEndpoint
from tests.integration.conftest import Cluster, OperatorProcess, runner_report, wait_for

LOCAL = {"phoneNumber": "+14155550100", "engine": "local"}
SECRET_KEY_VALUE = "kek-0123456789abcdef0123456789abcd"
SECRET_ACCESS_VALUE = "sk-live-ThisMustNeverBeLogged"
ACCESS_KEY_VALUE = "AKIAKNOWNTESTVALUE01"


def make_secret(
    cluster: Cluster, name: str, data: dict[str, str], namespace: str = "default"
) -> None:
    cluster.core.create_namespaced_secret(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        },
    )


def phase(cluster: Cluster, name: str) -> str | None:
    return (cluster.account(name).get("status") or {}).get("phase")


def children_exist(cluster: Cluster, name: str) -> bool:
    child = f"waa-{name}"
    cluster.core.read_namespaced_service_account(child, "default")
    cluster.rbac.read_namespaced_role(child, "default")
    cluster.rbac.read_namespaced_role_binding(child, "default")
    cluster.coordination.read_namespaced_lease(child, "default")
    cluster.core.read_namespaced_service(child, "default")
    cluster.statefulset(name)
    return True


def no_children(cluster: Cluster, name: str) -> bool:
    try:
        cluster.statefulset(name)
    except ApiException as exc:
        return exc.status == 404
    return False


def child_versions(cluster: Cluster, name: str) -> dict[str, str]:
    """resourceVersion of every child: any write to one changes its version."""
    child = f"waa-{name}"
    return {
        "ServiceAccount": cluster.core.read_namespaced_service_account(
            child, "default"
        ).metadata.resource_version,
        "Role": cluster.rbac.read_namespaced_role(child, "default").metadata.resource_version,
        "RoleBinding": cluster.rbac.read_namespaced_role_binding(
            child, "default"
        ).metadata.resource_version,
        "Lease": cluster.coordination.read_namespaced_lease(
            child, "default"
        ).metadata.resource_version,
        "Service": cluster.core.read_namespaced_service(child, "default").metadata.resource_version,
        "StatefulSet": cluster.statefulset(name).metadata.resource_version,
    }


def reconciles(operator: OperatorProcess, trigger: str, result: str) -> float:
    """wafleet_reconciles_total{trigger, result} as the operator's /metrics serves it now."""
    with urllib.request.urlopen(
        f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=2
    ) as resp:
        text = resp.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "wafleet_reconciles_total" and sample.labels == {
                "trigger": trigger,
                "result": result,
            }:
                return float(sample.value)
    return 0.0


def update_handled(cluster: Cluster, name: str, marker: str) -> bool:
    """Whether kopf has handled the account's update that brought `marker` in."""
    annotations = cluster.account(name)["metadata"].get("annotations") or {}
    return marker in annotations.get("operator.wafleet.io/last-handled-configuration", "")


def test_create_builds_every_child_owned_by_the_account(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    created = cluster.create_account("alice", LOCAL)
    wait_for(lambda: children_exist(cluster, "alice"), "children of alice")
    sts = cluster.statefulset("alice")
    assert sts.spec.replicas == 1
    owner = sts.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "WhatsAppAccount",
        "alice",
        created["metadata"]["uid"],
        True,
    )
    status = wait_for(
        lambda: (
            cluster.account("alice").get("status", {}).get("phase")
            and cluster.account("alice")["status"]
        ),
        "status",
    )
    assert status["phase"] == "Pending"
    assert {c["type"] for c in status["conditions"]} == {
        "Ready",
        "LeaseHeld",
        "LoggedIn",
        "SnapshotHealthy",
    }
    assert status["observedGeneration"] == 1
    assert "wafleet.io/finalizer" in cluster.account("alice")["metadata"]["finalizers"]


def test_reconciling_twice_changes_nothing(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    cluster.create_account("bob", LOCAL)
    wait_for(
        lambda: phase(cluster, "bob") == "Pending" and children_exist(cluster, "bob"),
        "bob reconciled",
    )
    before = cluster.statefulset("bob").metadata.resource_version
    # A label change re-runs the update handler without changing anything the children depend on.
    cluster.patch_account("bob", {"metadata": {"labels": {"team": "support"}}})
    wait_for(lambda: "team" in (cluster.account("bob")["metadata"].get("labels") or {}), "label")
    wait_for(
        lambda: (
            "operator.wafleet.io/last-handled-configuration"
            in cluster.account("bob")["metadata"]["annotations"]
            and '"team"'
            in cluster.account("bob")["metadata"]["annotations"][
                "operator.wafleet.io/last-handled-configuration"
            ]
        ),
        "update handled",
    )
    assert cluster.statefulset("bob").metadata.resource_version == before


def test_spec_change_updates_the_statefulset_template(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    cluster.create_account("carol", LOCAL)
    wait_for(lambda: children_exist(cluster, "carol"), "children")
    cluster.patch_account("carol", {"spec": {"image": "registry.example/wafleet/runner:9.9"}})
    assert cluster.account("carol")["metadata"]["generation"] == 2
    wait_for(
        lambda: (
            cluster.statefulset("carol").spec.template.spec.containers[0].image
            == "registry.example/wafleet/runner:9.9"
        ),
        "new image in the template",
    )
    wait_for(
        lambda: cluster.account("carol")["status"]["observedGeneration"] == 2,
        "observedGeneration 2",
    )


def test_suspend_scales_to_zero_and_resume_brings_it_back(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    cluster.create_account("dave", LOCAL)
    wait_for(lambda: children_exist(cluster, "dave"), "children")
    cluster.patch_account("dave", {"spec": {"suspended": True}})
    wait_for(lambda: cluster.statefulset("dave").spec.replicas == 0, "replicas 0")
    wait_for(lambda: phase(cluster, "dave") == "Suspended", "phase Suspended")
    cluster.patch_account("dave", {"spec": {"suspended": False}})
    wait_for(lambda: cluster.statefulset("dave").spec.replicas == 1, "replicas 1")
    wait_for(lambda: phase(cluster, "dave") == "Pending", "phase Pending")


def test_fence_annotation_keeps_the_pod_and_says_fenced(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    cluster.create_account("erin", LOCAL)
    wait_for(lambda: children_exist(cluster, "erin"), "children")
    cluster.patch_account(
        "erin", {"metadata": {"annotations": {"wafleet.io/fenced": "incident-42"}}}
    )
    wait_for(lambda: phase(cluster, "erin") == "Fenced", "phase Fenced")
    assert cluster.statefulset("erin").spec.replicas == 1
    ready = cluster.condition("erin", "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "Fenced")
    assert any(e.reason == "Fenced" and e.type == "Warning" for e in cluster.events_for("erin"))


def test_runner_report_drives_phase_and_stale_tokens_are_ignored(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    cluster.create_account("frank", LOCAL)
    wait_for(lambda: children_exist(cluster, "frank"), "children")
    # Stand in for the StatefulSet controller: the pod is ready.
    cluster.apps.patch_namespaced_stateful_set_status(
        "waa-frank", "default", {"status": {"replicas": 1, "readyReplicas": 1}}
    )
    report = runner_report("frank", "Connected", token=4)
    cluster.patch_account_status("frank", {"status": {"runner": report}})
    wait_for(lambda: phase(cluster, "frank") == "Connected", "phase Connected")
    status = cluster.account("frank")["status"]
    assert (status["leaseHolder"], status["fencingToken"]) == ("waa-frank-0", 4)
    assert cluster.condition("frank", "Ready")["status"] == "True"  # type: ignore[index]

    stale = {
        **report,
        "phase": "AwaitingLogin",
        "holder": "waa-frank-old",
        "fencingToken": 3,
        "loginQr": "2@stale",
    }
    cluster.patch_account_status("frank", {"status": {"runner": stale}})
    newer = {**report, "phase": "Disconnected", "fencingToken": 5}
    cluster.patch_account_status("frank", {"status": {"runner": newer}})
    wait_for(lambda: phase(cluster, "frank") == "Disconnected", "phase from the newer token")
    assert cluster.account("frank")["status"]["fencingToken"] == 5


def test_a_snapshot_failure_reported_by_the_runner_is_a_warning_event(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    make_secret(cluster, "fall-kek", {"key": SECRET_KEY_VALUE})
    spec = {**LOCAL, "snapshot": {"bucket": "snaps", "encryptionKeySecret": {"name": "fall-kek"}}}
    cluster.create_account("fay", spec)
    wait_for(lambda: children_exist(cluster, "fay"), "children")
    fell_back = "restored 20261123T1200Z-b: 20261123T1300Z-a failed verification (chunk hash)"
    report = {
        "phase": "Connected",
        "holder": "waa-fay-0",
        "fencingToken": 1,
        "snapshotError": fell_back,
        "reportedAt": "2026-11-23T13:00:00Z",
    }
    cluster.patch_account_status("fay", {"status": {"runner": report}})
    wait_for(
        lambda: (cluster.condition("fay", "SnapshotHealthy") or {}).get("status") == "False",
        "SnapshotHealthy False",
    )
    assert cluster.condition("fay", "SnapshotHealthy")["message"] == fell_back  # type: ignore[index]
    warning = wait_for(
        lambda: [e for e in cluster.events_for("fay") if e.reason == "SnapshotFailed"],
        "SnapshotFailed event",
    )
    assert warning[0].type == "Warning"
    assert warning[0].message == fell_back

    healed = {
        **report,
        "snapshotError": None,
        "lastSnapshot": {
            "id": "20261123T1305Z-c",
            "time": "2026-11-23T13:05:00Z",
            "bytes": 9,
            "seconds": 0.1,
        },
    }
    cluster.patch_account_status("fay", {"status": {"runner": healed}})
    wait_for(
        lambda: [e for e in cluster.events_for("fay") if e.reason == "SnapshotHealthy"],
        "SnapshotHealthy event after recovery",
    )
    assert cluster.condition("fay", "SnapshotHealthy")["status"] == "True"  # type: ignore[index]


def test_a_failed_verification_of_the_latest_snapshot_is_a_warning_until_a_newer_one(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    make_secret(cluster, "vic-kek", {"key": SECRET_KEY_VALUE})
    spec = {**LOCAL, "snapshot": {"bucket": "snaps", "encryptionKeySecret": {"name": "vic-kek"}}}
    cluster.create_account("vick", spec)
    wait_for(lambda: children_exist(cluster, "vick"), "children")
    first, second = "20261123T120000.000000Z-aaaaaaaa", "20261123T130000.000000Z-bbbbbbbb"

    def snap(snapshot_id: str, time: str) -> dict[str, Any]:
        return {"id": snapshot_id, "time": time, "bytes": 9, "seconds": 0.1}

    taken = {
        **runner_report("vick", "Connected"),
        "lastSnapshot": snap(first, "2026-11-23T12:00:00Z"),
    }
    cluster.patch_account_status("vick", {"status": {"runner": taken}})
    wait_for(
        lambda: (cluster.condition("vick", "SnapshotHealthy") or {}).get("status") == "True",
        "SnapshotHealthy True",
    )
    damaged = {
        **taken,
        "lastVerify": {
            "request": "2026-11-23T12:30:00Z",
            "snapshotId": first,
            "time": "2026-11-23T12:30:05Z",
            "ok": False,
            "corruptChunks": 1,
            "missingChunks": 0,
            "message": f"snapshot {first} of 3 chunk(s): 1 corrupt chunk(s) (ab12)",
        },
    }
    cluster.patch_account_status("vick", {"status": {"runner": damaged}})
    corrupt = wait_for(
        lambda: (
            (c := cluster.condition("vick", "SnapshotHealthy")) and c["status"] == "False" and c
        ),
        "SnapshotHealthy False",
    )
    assert corrupt["reason"] == "SnapshotCorrupt"
    assert "1 corrupt, 0 missing" in corrupt["message"]
    warning = wait_for(
        lambda: [e for e in cluster.events_for("vick") if e.reason == "SnapshotCorrupt"],
        "SnapshotCorrupt event",
    )
    assert warning[0].type == "Warning"
    assert first in warning[0].message

    # the next snapshot re-uploads the suspect chunk: the damaged one is no longer the latest
    repaired = {**damaged, "lastSnapshot": snap(second, "2026-11-23T13:00:00Z")}
    cluster.patch_account_status("vick", {"status": {"runner": repaired}})
    wait_for(
        lambda: (cluster.condition("vick", "SnapshotHealthy") or {}).get("status") == "True",
        "SnapshotHealthy True after a newer snapshot",
    )
    assert [e for e in cluster.events_for("vick") if e.reason == "SnapshotHealthy"]


@pytest.mark.parametrize(
    ("name", "spec", "field"),
    [
        (
            "gina",
            {
                **LOCAL,
                "snapshot": {"bucket": "snaps", "encryptionKeySecret": {"name": "missing-kek"}},
            },
            "spec.snapshot.encryptionKeySecret.name",
        ),
        (
            "hank",
            {**LOCAL, "snapshot": {"bucket": "my..snaps", "encryptionKeySecret": {"name": "kek"}}},
            "spec.snapshot.bucket",
        ),
        (
            "gwen",
            {
                **LOCAL,
                "snapshot": {
                    "bucket": "snaps",
                    "encryptionKeySecret": {"name": "kek", "key": "not-there"},
                },
            },
            "spec.snapshot.encryptionKeySecret.key",
        ),
        (
            "hugo",
            {
                **LOCAL,
                "snapshot": {
                    "bucket": "snaps",
                    "encryptionKeySecret": {"name": "kek"},
                    "credentialsSecret": {"name": "missing-creds"},
                },
            },
            "spec.snapshot.credentialsSecret.name",
        ),
        (
            "ivan",
            {
                **LOCAL,
                "snapshot": {
                    "bucket": "snaps",
                    "encryptionKeySecret": {"name": "kek"},
                    "credentialsSecret": {"name": "half-creds"},
                },
            },
            "spec.snapshot.credentialsSecret.secretAccessKeyKey",
        ),
        ("iris", {**LOCAL, "restoreFrom": "snap-1"}, "spec.restoreFrom"),
        ("j" * 60, LOCAL, "metadata.name"),
    ],
    ids=[
        "missing-secret",
        "bad-bucket",
        "key-missing-in-secret",
        "credentials-secret-missing",
        "credentials-key-missing",
        "restore-without-store",
        "name-too-long",
    ],
)
def test_invalid_spec_creates_nothing_and_names_the_field(
    cluster: Cluster, wafleet_operator: OperatorProcess, name: str, spec: dict[str, Any], field: str
) -> None:
    make_secret(cluster, "kek", {"key": SECRET_KEY_VALUE})
    make_secret(cluster, "half-creds", {"AWS_ACCESS_KEY_ID": ACCESS_KEY_VALUE})
    cluster.create_account(name, spec)
    wait_for(lambda: phase(cluster, name) == "Failed", "phase Failed")
    ready = cluster.condition(name, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert f"{field}: " in ready["message"]
    warnings = wait_for(
        lambda: [
            e for e in cluster.events_for(name) if e.type == "Warning" and e.reason == "InvalidSpec"
        ],
        "Warning event",
    )
    assert field in warnings[0].message
    assert no_children(cluster, name)
    for lister in (
        cluster.core.list_namespaced_service_account,
        cluster.coordination.list_namespaced_lease,
    ):
        assert not [o for o in lister("default").items if o.metadata.name == f"waa-{name}"]


def test_fixing_the_cluster_recovers_without_restart(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    spec = {**LOCAL, "snapshot": {"bucket": "snaps", "encryptionKeySecret": {"name": "late-kek"}}}
    cluster.create_account("kim", spec)
    wait_for(lambda: phase(cluster, "kim") == "Failed", "phase Failed")
    make_secret(cluster, "late-kek", {"key": SECRET_KEY_VALUE})
    wait_for(
        lambda: phase(cluster, "kim") == "Pending" and children_exist(cluster, "kim"),
        "recovered after the Secret appeared",
    )
    assert any(e.reason == "SpecValid" for e in cluster.events_for("kim"))


def test_fixing_the_spec_recovers(cluster: Cluster, wafleet_operator: OperatorProcess) -> None:
    cluster.create_account("lena", {**LOCAL, "restoreFrom": "snap-1"})
    wait_for(lambda: phase(cluster, "lena") == "Failed", "phase Failed")
    cluster.patch_account("lena", {"spec": {"restoreFrom": None}})
    wait_for(
        lambda: phase(cluster, "lena") == "Pending" and children_exist(cluster, "lena"), "recovered"
    )


def test_a_valid_account_made_invalid_keeps_its_children_until_fixed(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    """One edit changes the image, suspends, and names a key the Secret lacks: nothing of it
    reaches the children (not even the valid parts), the user is told once, and fixing the
    key applies the whole pending edit."""
    make_secret(cluster, "kek", {"key": SECRET_KEY_VALUE})
    spec = {**LOCAL, "snapshot": {"bucket": "snaps", "encryptionKeySecret": {"name": "kek"}}}
    cluster.create_account("tess", spec)
    wait_for(
        lambda: phase(cluster, "tess") == "Pending" and children_exist(cluster, "tess"),
        "tess reconciled",
    )
    before = child_versions(cluster, "tess")
    old_image = cluster.statefulset("tess").spec.template.spec.containers[0].image
    new_image = "registry.example/wafleet/runner:9.9"
    field = "spec.snapshot.encryptionKeySecret.key"
    cluster.patch_account(
        "tess",
        {
            "spec": {
                "image": new_image,
                "suspended": True,
                "snapshot": {"encryptionKeySecret": {"key": "not-there"}},
            }
        },
    )
    ready = wait_for(
        lambda: (c := cluster.condition("tess", "Ready")) and c["reason"] == "InvalidSpec" and c,
        "Ready False with InvalidSpec",
    )
    assert ready["status"] == "False"
    assert f"{field}: " in ready["message"]
    assert phase(cluster, "tess") == "Failed"
    # Sync point: one more update handled while still invalid (a label, nothing else).
    cluster.patch_account("tess", {"metadata": {"labels": {"still": "invalid"}}})
    wait_for(lambda: update_handled(cluster, "tess", '"still"'), "the label's update handled")

    assert child_versions(cluster, "tess") == before
    sts = cluster.statefulset("tess")
    assert sts.spec.replicas == 1
    assert sts.spec.template.spec.containers[0].image == old_image
    warnings = [e for e in cluster.events_for("tess") if e.type == "Warning"]
    assert [(e.reason, field in e.message) for e in warnings] == [("InvalidSpec", True)]

    cluster.patch_account("tess", {"spec": {"snapshot": {"encryptionKeySecret": {"key": "key"}}}})
    wait_for(lambda: cluster.statefulset("tess").spec.replicas == 0, "the pending suspend")
    assert cluster.statefulset("tess").spec.template.spec.containers[0].image == new_image
    wait_for(lambda: phase(cluster, "tess") == "Suspended", "phase Suspended")
    assert any(e.reason == "SpecValid" for e in cluster.events_for("tess"))


def test_drift_is_repaired(cluster: Cluster, wafleet_operator: OperatorProcess) -> None:
    cluster.create_account("mia", LOCAL)
    wait_for(lambda: children_exist(cluster, "mia"), "children")
    cluster.apps.patch_namespaced_stateful_set("waa-mia", "default", {"spec": {"replicas": 3}})
    wait_for(lambda: cluster.statefulset("mia").spec.replicas == 1, "replicas repaired")
    cluster.core.delete_namespaced_service("waa-mia", "default", _preload_content=False)
    wait_for(
        lambda: cluster.core.read_namespaced_service("waa-mia", "default"), "service recreated"
    )
    cluster.coordination.delete_namespaced_lease("waa-mia", "default")
    wait_for(
        lambda: cluster.coordination.read_namespaced_lease("waa-mia", "default"), "lease recreated"
    )


def test_conflict_in_the_middle_of_a_reconcile_is_retried(
    cluster: Cluster, kube_api: Any, wafleet_operator: OperatorProcess
) -> None:
    """The Role is applied, then the StatefulSet's apply meets two 409s: kopf retries, nothing is lost."""
    rule = kube_api.faults.inject(
        method="PATCH", path=r"/statefulsets/waa-nina$", status=409, times=2
    )
    cluster.create_account("nina", LOCAL)
    wait_for(lambda: children_exist(cluster, "nina"), "children after the conflicts")
    wait_for(lambda: phase(cluster, "nina") == "Pending", "status written")
    assert rule.hits == 2


def test_an_edit_made_between_conflicts_is_not_lost(
    cluster: Cluster, kube_api: Any, wafleet_operator: OperatorProcess
) -> None:
    """While kopf retries a reconcile whose StatefulSet apply meets 409s, another client edits
    the account (a label and a new image). The retries run on the newer account: once the
    conflicts stop, the StatefulSet has the new image and the label is still there."""
    rule = kube_api.faults.inject(
        method="PATCH", path=r"/statefulsets/waa-uma$", status=409, times=None
    )
    cluster.create_account("uma", LOCAL)
    wait_for(lambda: rule.hits >= 1, "the first conflict")
    new_image = "registry.example/wafleet/runner:9.9"
    cluster.patch_account(
        "uma", {"metadata": {"labels": {"team": "support"}}, "spec": {"image": new_image}}
    )
    hits_at_edit = rule.hits
    wait_for(lambda: rule.hits > hits_at_edit, "a retry after the edit, refused again")
    kube_api.faults.clear()

    wait_for(
        lambda: cluster.statefulset("uma").spec.template.spec.containers[0].image == new_image,
        "the edited image applied by the retry",
    )
    wait_for(
        lambda: (
            phase(cluster, "uma") == "Pending"
            and cluster.account("uma")["status"]["observedGeneration"] == 2
        ),
        "status of the edited generation",
    )
    account = cluster.account("uma")
    assert account["metadata"]["labels"]["team"] == "support"
    assert account["spec"]["image"] == new_image
    assert cluster.statefulset("uma").spec.replicas == 1


def snapshot_spec(aws: AwsEndpoint, policy: str) -> dict[str, Any]:
    return {
        **LOCAL,
        "deletionPolicy": policy,
        "snapshot": {
            "bucket": "wafleet-snaps",
            "prefix": "prod",
            "endpoint": aws.endpoint_url,
            "credentialsSecret": {"name": "s3-creds"},
            "encryptionKeySecret": {"name": "kek"},
        },
    }


def seed_snapshots(aws: AwsEndpoint, account: str) -> Any:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="wafleet-snaps")
    for key in ("manifests/1.json", "chunks/ab/abcd", "latest"):
        s3.put_object(Bucket="wafleet-snaps", Key=f"prod/default/{account}/{key}", Body=b"x")
    s3.put_object(Bucket="wafleet-snaps", Key="prod/default/other/latest", Body=b"keep")
    return s3


def keys(s3: Any) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket="wafleet-snaps").get("Contents", [])}


@pytest.mark.parametrize("policy", ["Retain", "Delete"])
def test_delete_honours_deletion_policy_then_children_are_collected(
    cluster: Cluster, aws: AwsEndpoint, wafleet_operator: OperatorProcess, policy: str
) -> None:
    make_secret(cluster, "kek", {"key": SECRET_KEY_VALUE})
    make_secret(
        cluster,
        "s3-creds",
        {"AWS_ACCESS_KEY_ID": ACCESS_KEY_VALUE, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_VALUE},
    )
    s3 = seed_snapshots(aws, "olga")
    cluster.create_account("olga", snapshot_spec(aws, policy))
    wait_for(lambda: children_exist(cluster, "olga"), "children")
    cluster.custom.delete_namespaced_custom_object(
        "wafleet.io", "v1alpha1", "default", "whatsappaccounts", "olga"
    )

    def gone() -> bool:
        try:
            cluster.account("olga")
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, "account removed after its finalizer")
    wait_for(lambda: no_children(cluster, "olga"), "children garbage-collected")
    remaining = keys(s3)
    assert "prod/default/other/latest" in remaining
    own = {k for k in remaining if k.startswith("prod/default/olga/")}
    assert own == (
        set()
        if policy == "Delete"
        else {f"prod/default/olga/{k}" for k in ("manifests/1.json", "chunks/ab/abcd", "latest")}
    )

    reasons = {e.reason for e in cluster.events_for("olga")}
    assert ("SnapshotsDeleted" if policy == "Delete" else "SnapshotsRetained") in reasons

    # Secrets never leak: not in the operator's logs, the events, or any status.
    leaked = wafleet_operator.logs() + json.dumps(
        [e.to_dict() for e in cluster.core.list_namespaced_event("default").items], default=str
    )
    for secret in (SECRET_ACCESS_VALUE, ACCESS_KEY_VALUE, SECRET_KEY_VALUE):
        assert secret not in leaked


def test_metrics_count_reconciles_and_accounts_by_phase(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    cluster.create_account("pia", LOCAL)
    wait_for(lambda: phase(cluster, "pia") == "Pending", "reconciled")

    def scrape() -> str:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{wafleet_operator.metrics_port}/metrics", timeout=2
        ) as resp:
            return str(resp.read().decode())

    text = wait_for(
        lambda: 'wafleet_accounts{phase="Pending"} 1.0' in scrape() and scrape(), "metrics"
    )
    assert 'wafleet_reconciles_total{result="ok",trigger="spec"}' in text


@pytest.mark.parametrize("operator_env", [{"WAFLEET_RESYNC_INTERVAL_S": "2"}], indirect=False)
def test_a_refused_child_write_outside_kopfs_handler_is_counted_and_recovered(
    cluster: Cluster, kube_api: Any, operator_env: dict[str, str], wafleet_operator: OperatorProcess
) -> None:
    """Drift repair (a child event, not kopf's spec handler) meets a 500 on a child write:
    wafleet_reconciles_total{result="error"} rises for its trigger. Once the API accepts
    writes again, the resync repairs the drift and counts ok."""
    cluster.create_account("sara", LOCAL)
    wait_for(
        lambda: phase(cluster, "sara") == "Pending" and children_exist(cluster, "sara"),
        "reconciled",
    )
    trigger = "statefulsets-modified"
    errors_before = reconciles(wafleet_operator, trigger, "error")
    # The first write of every reconcile; the test's own edit below is of the StatefulSet.
    rule = kube_api.faults.inject(
        method="PATCH", path=r"/serviceaccounts/waa-sara$", status=500, times=None
    )
    cluster.apps.patch_namespaced_stateful_set("waa-sara", "default", {"spec": {"replicas": 3}})
    wait_for(
        lambda: reconciles(wafleet_operator, trigger, "error") >= errors_before + 3,
        "the drift handler's three failed attempts counted",
    )
    assert rule.hits >= 3
    assert cluster.statefulset("sara").spec.replicas == 3  # not repaired while refused

    kube_api.faults.clear()
    resync_ok = reconciles(wafleet_operator, "resync", "ok")
    wait_for(lambda: cluster.statefulset("sara").spec.replicas == 1, "drift repaired")
    wait_for(
        lambda: reconciles(wafleet_operator, "resync", "ok") > resync_ok,
        "a successful resync counted",
    )
    assert "gave up reconciling default/sara (statefulsets-modified)" in wafleet_operator.logs()


def test_a_refused_runner_report_is_counted(
    cluster: Cluster, kube_api: Any, wafleet_operator: OperatorProcess
) -> None:
    """The runner-report path reads children rather than applying them; a 500 there counts
    as an error of trigger "runner", and the next report goes through."""
    cluster.create_account("tim", LOCAL)
    wait_for(lambda: phase(cluster, "tim") == "Pending", "reconciled")
    errors_before = reconciles(wafleet_operator, "runner", "error")
    kube_api.faults.inject(method="GET", path=r"/statefulsets/waa-tim$", status=500, times=None)
    report = runner_report("tim", "AwaitingLogin")
    cluster.patch_account_status("tim", {"status": {"runner": report}})
    wait_for(
        lambda: reconciles(wafleet_operator, "runner", "error") > errors_before,
        "the runner report's error counted",
    )
    assert phase(cluster, "tim") == "Pending"

    kube_api.faults.clear()
    newer = {**report, "reportedAt": "2026-11-23T12:00:05Z"}
    cluster.patch_account_status("tim", {"status": {"runner": newer}})
    wait_for(lambda: phase(cluster, "tim") == "AwaitingLogin", "the next report handled")
    assert reconciles(wafleet_operator, "runner", "ok") >= 1


def test_operator_logs_are_json(cluster: Cluster, wafleet_operator: OperatorProcess) -> None:
    cluster.create_account("quinn", LOCAL)
    wait_for(lambda: phase(cluster, "quinn") == "Pending", "reconciled")
    lines = [line for line in wafleet_operator.logs().splitlines() if line.strip()]
    assert lines
    parsed = [json.loads(line) for line in lines]
    assert all("level" in record and "timestamp" in record for record in parsed)


@pytest.mark.parametrize("operator_env", [{"WAFLEET_RESYNC_INTERVAL_S": "2"}], indirect=False)
def test_periodic_resync_repairs_what_events_could_not(
    cluster: Cluster, kube_api: Any, operator_env: dict[str, str], wafleet_operator: OperatorProcess
) -> None:
    """Drift whose event-driven repair failed (the API refused every retry) is fixed by the resync."""
    cluster.create_account("rosa", LOCAL)
    wait_for(lambda: children_exist(cluster, "rosa"), "children")
    wait_for(lambda: phase(cluster, "rosa") == "Pending", "reconciled")
    rule = kube_api.faults.inject(
        method="GET", path=r"/whatsappaccounts/rosa$", status=500, times=3
    )
    cluster.apps.patch_namespaced_stateful_set("waa-rosa", "default", {"spec": {"replicas": 5}})
    wait_for(lambda: rule.exhausted, "the drift handler's three attempts")
    wait_for(
        lambda: cluster.statefulset("rosa").spec.replicas == 1, "replicas repaired by the resync"
    )
