"""The real operator reconciling WhatsAppAccounts against a real API server.

Each test has its own namespace. Faults the server cannot be told to produce come
from the server itself: a validating admission webhook that refuses chosen writes
with a chosen code (`refusals`), or a verb taken out of the chart's Role while the
operator runs as the chart's ServiceAccount (`chart_rbac.withdraw`).
"""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.control_plane.kubelet import Kubelet
from tests.harness.moto_server import AwsEndpoint
from tests.integration.conftest import (
    AdmissionRefusals,
    ChartRbac,
    Cluster,
    OperatorProcess,
    runner_report,
    wait_for,
)

LOCAL = {"phoneNumber": "+14155550100", "engine": "local"}
SECRET_KEY_VALUE = "kek-0123456789abcdef0123456789ab"  # 32 bytes: a key-encryption key
SECRET_ACCESS_VALUE = "sk-live-ThisMustNeverBeLogged"
ACCESS_KEY_VALUE = "AKIAKNOWNTESTVALUE01"


def make_secret(
    cluster: Cluster, name: str, data: dict[str, str], namespace: str | None = None
) -> None:
    cluster.core.create_namespaced_secret(
        namespace or cluster.namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        },
    )


def status_of(cluster: Cluster, name: str) -> dict[str, Any]:
    """The account's status, or {} before the operator first wrote it (for wait predicates)."""
    return cluster.account(name).get("status") or {}


def phase(cluster: Cluster, name: str) -> str | None:
    return status_of(cluster, name).get("phase")


def children_exist(cluster: Cluster, name: str) -> bool:
    child = f"waa-{name}"
    cluster.core.read_namespaced_service_account(child, cluster.namespace)
    cluster.rbac.read_namespaced_role(child, cluster.namespace)
    cluster.rbac.read_namespaced_role_binding(child, cluster.namespace)
    cluster.coordination.read_namespaced_lease(child, cluster.namespace)
    cluster.core.read_namespaced_service(child, cluster.namespace)
    cluster.statefulset(name)
    return True


def no_children(cluster: Cluster, name: str) -> bool:
    try:
        cluster.statefulset(name)
    except ApiException as exc:
        return exc.status == 404
    return False


def child_versions(cluster: Cluster, name: str) -> dict[str, str]:
    """The version of every child: any write to one changes it (the StatefulSet's status,
    which its controller writes, aside)."""
    child = f"waa-{name}"
    return {
        "ServiceAccount": cluster.core.read_namespaced_service_account(
            child, cluster.namespace
        ).metadata.resource_version,
        "Role": cluster.rbac.read_namespaced_role(
            child, cluster.namespace
        ).metadata.resource_version,
        "RoleBinding": cluster.rbac.read_namespaced_role_binding(
            child, cluster.namespace
        ).metadata.resource_version,
        "Lease": cluster.coordination.read_namespaced_lease(
            child, cluster.namespace
        ).metadata.resource_version,
        "Service": cluster.core.read_namespaced_service(
            child, cluster.namespace
        ).metadata.resource_version,
        "StatefulSet": statefulset_version(cluster, name),
    }


def statefulset_version(cluster: Cluster, name: str) -> str:
    """The StatefulSet's version as far as anyone but its controller wrote it.

    On a real cluster the StatefulSet controller writes the status subresource when
    it likes (pods created, revisions settled), which bumps resourceVersion; any write
    to spec or metadata bumps the generation or the writer's managedFields entry.
    """
    sts = cluster.statefulset(name)
    writes = sorted(
        (m.manager, m.operation, str(m.time))
        for m in sts.metadata.managed_fields or []
        if m.subresource != "status"
    )
    return f"{sts.metadata.generation} {writes}"


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
        lambda: (s := status_of(cluster, "alice")).get("phase") and s,
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
    before = statefulset_version(cluster, "bob")
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
    assert statefulset_version(cluster, "bob") == before


@pytest.mark.parametrize(
    "operator_env", [{"WAFLEET_RUNNER_IMAGE_ALLOW_LIST": "registry.example/wafleet/runner:9.9"}]
)
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
        lambda: status_of(cluster, "carol").get("observedGeneration") == 2,
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
    cluster.mark_pod_ready("frank")  # the StatefulSet controller then counts it ready
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
        # A name too long is refused by the CRD itself now; the operator's own check of
        # it is in tests/integration/validation (with a CRD that lacks the rule).
    ],
    ids=[
        "missing-secret",
        "bad-bucket",
        "key-missing-in-secret",
        "credentials-secret-missing",
        "credentials-key-missing",
        "restore-without-store",
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
        assert not [o for o in lister(cluster.namespace).items if o.metadata.name == f"waa-{name}"]


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


@pytest.mark.parametrize(
    "operator_env", [{"WAFLEET_RUNNER_IMAGE_ALLOW_LIST": "registry.example/wafleet/runner:9.9"}]
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


def test_triggers_racing_one_edit_announce_it_once(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    """Several triggers reconcile one account at the same time — its own update, the
    Secrets it names, its children changing (on a real cluster the StatefulSet
    controller alone writes the StatefulSet's status every few moments) — each from the
    account as it read it. The edit that made the account invalid is announced once: a
    reconcile whose account is stale by the time it writes status starts again from the
    account as it is, and finds the transition already written."""
    make_secret(cluster, "kek", {"key": SECRET_KEY_VALUE})
    make_secret(
        cluster,
        "creds",
        {"AWS_ACCESS_KEY_ID": ACCESS_KEY_VALUE, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_VALUE},
    )
    snapshot = {
        "bucket": "snaps",
        "encryptionKeySecret": {"name": "kek"},
        "credentialsSecret": {"name": "creds"},
    }
    cluster.create_account("rae", {**LOCAL, "snapshot": snapshot})
    wait_for(
        lambda: phase(cluster, "rae") == "Pending" and children_exist(cluster, "rae"),
        "rae reconciled",
    )
    ns, child = cluster.namespace, "waa-rae"
    touch = {"metadata": {"annotations": {"test.wafleet.io/touched": "1"}}}
    cluster.patch_account("rae", {"spec": {"snapshot": {"encryptionKeySecret": {"key": "no"}}}})
    for _ in range(3):  # every write below wakes its own kopf worker, all at once
        cluster.core.patch_namespaced_secret("kek", ns, touch)
        cluster.core.patch_namespaced_secret("creds", ns, touch)
        cluster.apps.patch_namespaced_stateful_set(child, ns, touch)
        cluster.core.patch_namespaced_service(child, ns, touch)
        cluster.core.patch_namespaced_service_account(child, ns, touch)
        cluster.rbac.patch_namespaced_role(child, ns, touch)
        cluster.rbac.patch_namespaced_role_binding(child, ns, touch)
        touch = {"metadata": {"annotations": {"test.wafleet.io/touched": str(_ + 2)}}}
    wait_for(lambda: phase(cluster, "rae") == "Failed", "phase Failed")
    # Sync point: one more update handled, and one more drift handled, while still invalid.
    cluster.patch_account("rae", {"metadata": {"labels": {"still": "invalid"}}})
    wait_for(lambda: update_handled(cluster, "rae", '"still"'), "the label's update handled")
    warnings = [e for e in cluster.events_for("rae") if e.reason == "InvalidSpec"]
    assert len(warnings) == 1, [(e.message, e.metadata.creation_timestamp) for e in warnings]


def test_drift_is_repaired(cluster: Cluster, wafleet_operator: OperatorProcess) -> None:
    cluster.create_account("mia", LOCAL)
    wait_for(lambda: children_exist(cluster, "mia"), "children")
    cluster.apps.patch_namespaced_stateful_set(
        "waa-mia", cluster.namespace, {"spec": {"replicas": 3}}
    )
    wait_for(lambda: cluster.statefulset("mia").spec.replicas == 1, "replicas repaired")
    cluster.core.delete_namespaced_service("waa-mia", cluster.namespace, _preload_content=False)
    wait_for(
        lambda: cluster.core.read_namespaced_service("waa-mia", cluster.namespace),
        "service recreated",
    )
    cluster.coordination.delete_namespaced_lease("waa-mia", cluster.namespace)
    wait_for(
        lambda: cluster.coordination.read_namespaced_lease("waa-mia", cluster.namespace),
        "lease recreated",
    )


def test_with_the_drift_filter_readiness_still_reaches_the_account_and_edits_are_repaired(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    """The drift filter (drift.py, table-tested) skips the StatefulSet controller's status
    writes, except the part the account's status is computed from: the pod becoming ready
    must still make the account Ready (a first version of the filter lost exactly that on
    the real server), and an edit of the spec is still repaired."""
    cluster.create_account("sol", LOCAL)
    wait_for(lambda: children_exist(cluster, "sol"), "children")
    cluster.patch_account_status("sol", {"status": {"runner": runner_report("sol", "Connected")}})
    wait_for(lambda: phase(cluster, "sol") == "Connected", "the runner's report handled")
    cluster.mark_pod_ready("sol")
    wait_for(
        lambda: (c := cluster.condition("sol", "Ready")) and c["status"] == "True",
        "Ready once the StatefulSet counts the ready pod",
    )
    cluster.apps.patch_namespaced_stateful_set(
        "waa-sol", cluster.namespace, {"spec": {"replicas": 2}}
    )
    wait_for(lambda: cluster.statefulset("sol").spec.replicas == 1, "the spec edit repaired")


def test_conflict_in_the_middle_of_a_reconcile_is_retried(
    cluster: Cluster, refusals: AdmissionRefusals, wafleet_operator: OperatorProcess
) -> None:
    """The Role is applied, then the StatefulSet's apply meets two 409s: kopf retries, nothing is lost."""
    rule = refusals.refuse("statefulsets", "waa-nina", 409, times=2)
    cluster.create_account("nina", LOCAL)
    wait_for(lambda: children_exist(cluster, "nina"), "children after the conflicts")
    wait_for(lambda: phase(cluster, "nina") == "Pending", "status written")
    assert rule.hits == 2


@pytest.mark.parametrize(
    "operator_env", [{"WAFLEET_RUNNER_IMAGE_ALLOW_LIST": "registry.example/wafleet/runner:9.9"}]
)
def test_an_edit_made_between_conflicts_is_not_lost(
    cluster: Cluster, refusals: AdmissionRefusals, wafleet_operator: OperatorProcess
) -> None:
    """While kopf retries a reconcile whose StatefulSet apply meets 409s, another client edits
    the account (a label and a new image). The retries run on the newer account: once the
    conflicts stop, the StatefulSet has the new image and the label is still there."""
    rule = refusals.refuse("statefulsets", "waa-uma", 409)
    cluster.create_account("uma", LOCAL)
    wait_for(lambda: rule.hits >= 1, "the first conflict")
    new_image = "registry.example/wafleet/runner:9.9"
    cluster.patch_account(
        "uma", {"metadata": {"labels": {"team": "support"}}, "spec": {"image": new_image}}
    )
    hits_at_edit = rule.hits
    wait_for(lambda: rule.hits > hits_at_edit, "a retry after the edit, refused again")
    refusals.clear()

    wait_for(
        lambda: cluster.statefulset("uma").spec.template.spec.containers[0].image == new_image,
        "the edited image applied by the retry",
    )
    wait_for(
        lambda: (
            phase(cluster, "uma") == "Pending"
            and status_of(cluster, "uma").get("observedGeneration") == 2
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


def owner_doc(namespace: str, account: str, uid: str) -> bytes:
    """owner.json as the account's runner writes it when it claims its prefix."""
    return json.dumps(
        {"owner": f"{namespace}/{account}", "uid": uid, "created_at": "2026-01-01T00:00:00Z"}
    ).encode()


def seed_snapshots(aws: AwsEndpoint, namespace: str, account: str, uid: str) -> Any:
    """Snapshot objects of `account` (uid `uid`, its owner.json included) and of another
    account beside it, under prefix prod."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="wafleet-snaps")
    for key in ("manifests/1.json", "chunks/ab/abcd", "latest"):
        s3.put_object(Bucket="wafleet-snaps", Key=f"prod/{namespace}/{account}/{key}", Body=b"x")
    s3.put_object(
        Bucket="wafleet-snaps",
        Key=f"prod/{namespace}/{account}/owner.json",
        Body=owner_doc(namespace, account, uid),
    )
    s3.put_object(Bucket="wafleet-snaps", Key=f"prod/{namespace}/other/latest", Body=b"keep")
    return s3


def confirm_pod_gone(cluster: Cluster, account: str) -> None:
    """Stand in for a kubelet's last word on the account's pod, where no kubelet runs it.

    Waits until the StatefulSet is scaled to 0 (or gone). A pod bound to a node is
    only removed once that node's kubelet confirms its containers stopped (a delete
    with grace 0). Tests without the `kubelet` fixture have no one to confirm, once
    the session's stand-in Node exists: this does it, for a pod already being
    deleted, as the kubelet would.
    """
    pod = f"waa-{account}-0"

    def settled() -> bool:
        try:
            if cluster.statefulset(account).spec.replicas != 0:
                return False  # not scaled down yet: the controller may still make the pod
        except ApiException as exc:
            if exc.status != 404:
                raise
        try:
            found = cluster.core.read_namespaced_pod(pod, cluster.namespace)
        except ApiException as exc:
            return exc.status == 404
        if found.metadata.deletion_timestamp is None:
            return False
        cluster.core.delete_namespaced_pod(pod, cluster.namespace, grace_period_seconds=0)
        return False

    wait_for(settled, f"pod {pod} gone", timeout=60)


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
    ns = cluster.namespace
    created = cluster.create_account("olga", snapshot_spec(aws, policy))
    s3 = seed_snapshots(aws, ns, "olga", created["metadata"]["uid"])
    wait_for(lambda: children_exist(cluster, "olga"), "children")
    cluster.custom.delete_namespaced_custom_object(
        "wafleet.io", "v1alpha1", cluster.namespace, "whatsappaccounts", "olga"
    )
    if policy == "Delete":
        confirm_pod_gone(cluster, "olga")  # the operator scales to 0 first and waits for it

    def gone() -> bool:
        try:
            cluster.account("olga")
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, "account removed after its finalizer")
    # GC of a CRD's objects can take ~40 s the first time after the CRD was created.
    wait_for(lambda: no_children(cluster, "olga"), "children garbage-collected", timeout=120)
    remaining = keys(s3)
    assert f"prod/{ns}/other/latest" in remaining
    own = {k for k in remaining if k.startswith(f"prod/{ns}/olga/")}
    assert own == (
        set()
        if policy == "Delete"
        else {
            f"prod/{ns}/olga/{k}"
            for k in ("manifests/1.json", "chunks/ab/abcd", "latest", "owner.json")
        }
    )

    reasons = {e.reason for e in cluster.events_for("olga")}
    assert ("SnapshotsDeleted" if policy == "Delete" else "SnapshotsRetained") in reasons

    # Secrets never leak: not in the operator's logs, the events, or any status.
    leaked = wafleet_operator.logs() + json.dumps(
        [e.to_dict() for e in cluster.core.list_namespaced_event(cluster.namespace).items],
        default=str,
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
    cluster: Cluster,
    refusals: AdmissionRefusals,
    operator_env: dict[str, str],
    wafleet_operator: OperatorProcess,
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
    rule = refusals.refuse("serviceaccounts", "waa-sara", 500)
    # Sync point: a reconcile already past its ServiceAccount when the refusal began (the
    # resync runs every 2 s) could still apply the StatefulSet; once a later one has been
    # refused, none is.
    wait_for(lambda: rule.hits >= 1, "the first refused write")
    cluster.apps.patch_namespaced_stateful_set(
        "waa-sara", cluster.namespace, {"spec": {"replicas": 3}}
    )
    wait_for(
        lambda: reconciles(wafleet_operator, trigger, "error") >= errors_before + 3,
        "the drift handler's three failed attempts counted",
    )
    assert rule.hits >= 3
    assert cluster.statefulset("sara").spec.replicas == 3  # not repaired while refused

    refusals.clear()
    resync_ok = reconciles(wafleet_operator, "resync", "ok")
    wait_for(lambda: cluster.statefulset("sara").spec.replicas == 1, "drift repaired")
    wait_for(
        lambda: reconciles(wafleet_operator, "resync", "ok") > resync_ok,
        "a successful resync counted",
    )
    assert (
        f"gave up reconciling {cluster.namespace}/sara (statefulsets-modified)"
        in wafleet_operator.logs()
    )


@pytest.mark.parametrize("operator_env", [{"WAFLEET_RESYNC_INTERVAL_S": "2"}], indirect=False)
@pytest.mark.parametrize("operator_identity", ["chart-namespace"])
def test_without_the_finalizers_grant_no_child_is_created(
    cluster: Cluster, chart_rbac: ChartRbac, wafleet_operator: OperatorProcess
) -> None:
    """The chart's `update` on whatsappaccounts/finalizers is needed, not decoration: every
    child blocks its owner's deletion, and the API server's OwnerReferencesPermissionEnforcement
    admission refuses that to whoever may not update the owner's finalizers (kopf gives the
    creation up on a 403). Given back, the resync creates the children."""
    chart_rbac.withdraw("wafleet.io", "whatsappaccounts/finalizers", "update")
    wait_for(
        lambda: not chart_rbac.allows("wafleet.io", "whatsappaccounts/finalizers", "update"),
        "the grant withdrawn",
    )
    cluster.create_account("fin", LOCAL)
    wait_for(
        lambda: "cannot set blockOwnerDeletion" in wafleet_operator.logs(),
        "the API server refusing blockOwnerDeletion",
        60,
    )
    with pytest.raises(ApiException) as missing:
        cluster.statefulset("fin")
    assert missing.value.status == 404
    chart_rbac.restore()
    wait_for(lambda: cluster.statefulset("fin"), "the children once the grant is back", 120)


@pytest.mark.parametrize("operator_identity", ["chart-namespace"])
def test_a_refused_runner_report_is_counted(
    cluster: Cluster, chart_rbac: ChartRbac, wafleet_operator: OperatorProcess
) -> None:
    """The runner-report path reads children rather than applying them; the API server
    refusing that read counts as an error of trigger "runner", and once reads are allowed
    again the next report goes through.

    The operator runs as the chart's ServiceAccount; the refusal is real: `get` on
    StatefulSets is taken out of its Role (the runner-report path is the only one that
    reads a StatefulSet by name; applying one needs `patch`), so the API server answers 403.
    """
    cluster.create_account("tim", LOCAL)
    wait_for(lambda: phase(cluster, "tim") == "Pending", "reconciled")
    errors_before = reconciles(wafleet_operator, "runner", "error")
    ok_before = reconciles(wafleet_operator, "runner", "ok")
    chart_rbac.withdraw("apps", "statefulsets", "get")
    report = runner_report("tim", "AwaitingLogin")
    cluster.patch_account_status("tim", {"status": {"runner": report}})
    wait_for(
        lambda: reconciles(wafleet_operator, "runner", "error") > errors_before,
        "the runner report's error counted",
    )
    # The runner-report path did not get through. (The phase may still move: on a real
    # cluster the StatefulSet controller's status writes wake the drift path, which
    # applies children rather than reading them and reads the same report.)
    assert reconciles(wafleet_operator, "runner", "ok") == ok_before
    assert any(e.reason == "StatusFailed" for e in cluster.events_for("tim"))

    chart_rbac.restore()
    wait_for(lambda: chart_rbac.allows("apps", "statefulsets", "get"), "get allowed again")
    newer = {**report, "reportedAt": "2026-11-23T12:00:05Z"}
    cluster.patch_account_status("tim", {"status": {"runner": newer}})
    wait_for(
        lambda: reconciles(wafleet_operator, "runner", "ok") > ok_before,
        "the next report handled by the runner-report path",
    )
    wait_for(lambda: phase(cluster, "tim") == "AwaitingLogin", "the report's phase")


def test_operator_logs_are_json(cluster: Cluster, wafleet_operator: OperatorProcess) -> None:
    cluster.create_account("quinn", LOCAL)
    wait_for(lambda: phase(cluster, "quinn") == "Pending", "reconciled")
    lines = [line for line in wafleet_operator.logs().splitlines() if line.strip()]
    assert lines
    parsed = [json.loads(line) for line in lines]
    assert all("level" in record and "timestamp" in record for record in parsed)


@pytest.mark.parametrize("operator_identity", ["chart-namespace"])
@pytest.mark.parametrize("operator_env", [{"WAFLEET_RESYNC_INTERVAL_S": "2"}], indirect=False)
def test_periodic_resync_repairs_what_events_could_not(
    cluster: Cluster,
    chart_rbac: ChartRbac,
    operator_env: dict[str, str],
    wafleet_operator: OperatorProcess,
) -> None:
    """Drift whose event-driven repair failed (the API refused every retry) is fixed by the resync.

    The drift handler reads the account by name before repairing; the resync lists
    accounts. With `get` on WhatsAppAccounts taken out of the operator's Role, the API
    server refuses every attempt of the drift handler (403) while the resync still
    works: the repair is the resync's.
    """
    cluster.create_account("rosa", LOCAL)
    wait_for(lambda: children_exist(cluster, "rosa"), "children")
    wait_for(lambda: phase(cluster, "rosa") == "Pending", "reconciled")
    chart_rbac.withdraw("wafleet.io", "whatsappaccounts", "get")
    cluster.apps.patch_namespaced_stateful_set(
        "waa-rosa", cluster.namespace, {"spec": {"replicas": 5}}
    )
    gave_up = f"gave up reconciling {cluster.namespace}/rosa (statefulsets-modified)"
    wait_for(lambda: gave_up in wafleet_operator.logs(), "the drift handler's three attempts")
    wait_for(
        lambda: cluster.statefulset("rosa").spec.replicas == 1, "replicas repaired by the resync"
    )
    chart_rbac.restore()


def test_a_dollar_reference_in_the_spec_reaches_the_runner_as_text(
    cluster: Cluster, wafleet_operator: OperatorProcess, kubelet: Kubelet, aws: AwsEndpoint
) -> None:
    """Kubernetes expands `$(VAR)` in literal env values: a prefix of
    `$(AWS_SECRET_ACCESS_KEY)` must reach the runner as that text, not as the secret
    (the stand-in kubelet expands exactly as a kubelet does)."""
    make_secret(cluster, "kek", {"key": SECRET_KEY_VALUE})
    make_secret(
        cluster,
        "s3-creds",
        {"AWS_ACCESS_KEY_ID": ACCESS_KEY_VALUE, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_VALUE},
    )
    spec = snapshot_spec(aws, "Retain")
    spec["snapshot"]["prefix"] = "$(AWS_SECRET_ACCESS_KEY)"
    cluster.create_account("vera", spec)
    runner = wait_for(lambda: kubelet.pods.get("waa-vera-0"), "the runner started", timeout=120)
    assert runner.launch.env["WAFLEET_SNAPSHOT_PREFIX"] == "$(AWS_SECRET_ACCESS_KEY)"
    assert runner.launch.env["AWS_SECRET_ACCESS_KEY"] == SECRET_ACCESS_VALUE  # still resolved
