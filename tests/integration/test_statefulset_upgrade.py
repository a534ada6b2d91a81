"""A StatefulSet whose fixed fields an operator upgrade changes is recreated, not stuck.

Earlier operators made every runner StatefulSet with podManagementPolicy
OrderedReady. That field is immutable, so once the operator renders Parallel
(see specs/statefulset.py for why) a plain apply is refused with 422 on every
reconcile, forever. The operator deletes the old StatefulSet with propagation
Orphan (its pod keeps running) and applies the new one, which adopts the pod.
"""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Cluster, OperatorProcess, wait_for

LOCAL = {"phoneNumber": "+14155550100", "engine": "local"}


def old_statefulset(name: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "wafleet-runner", "app.kubernetes.io/instance": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": f"waa-{name}"},
        "spec": {
            "replicas": 1,
            "serviceName": f"waa-{name}",
            "podManagementPolicy": "OrderedReady",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "runner", "image": "wafleet/runner:old"}]},
            },
        },
    }


def test_an_ordered_ready_statefulset_from_an_older_operator_is_recreated(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    from wafleet_operator.specs.labels import selector_labels

    body = old_statefulset("up")
    body["spec"]["selector"]["matchLabels"] = selector_labels("up")
    body["spec"]["template"]["metadata"]["labels"] = selector_labels("up")
    cluster.apps.create_namespaced_stateful_set(cluster.namespace, body)
    cluster.create_account("up", LOCAL)
    sts = wait_for(
        lambda: (s := cluster.statefulset("up")).spec.pod_management_policy == "Parallel" and s,
        "the StatefulSet recreated with podManagementPolicy Parallel",
        60,
    )
    assert sts.metadata.owner_references[0].kind == "WhatsAppAccount"
    wait_for(
        lambda: (cluster.account("up").get("status") or {}).get("phase") == "Pending",
        "the account reconciled past the StatefulSet",
    )
