"""The status subresource keeps status and the rest of the object apart."""

from __future__ import annotations

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import WIDGET_CRD, WIDGETS, created, merge_patch, widget

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def _deployment(replicas: int) -> dict[str, object]:
    return {
        "metadata": {"name": "d"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }


def test_writes_to_status_change_only_status(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        created(http, WIDGETS, widget("w", size=1))
        response = merge_patch(
            http,
            f"{WIDGETS}/w/status",
            {
                "spec": {"size": 99},
                "metadata": {"labels": {"sneaky": "1"}},
                "status": {"phase": "Ready"},
            },
        )
        assert response.status_code == 200
        obj = http.get(f"{WIDGETS}/w").json()
    assert obj["status"] == {"phase": "Ready"}
    assert obj["spec"] == {"size": 1}
    assert "labels" not in obj["metadata"]


def test_writes_to_the_main_resource_ignore_status(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        created(http, WIDGETS, {**widget("w", size=1), "status": {"phase": "FromCreate"}})
        merge_patch(http, f"{WIDGETS}/w/status", {"status": {"phase": "Ready"}})
        obj = merge_patch(
            http, f"{WIDGETS}/w", {"spec": {"size": 2}, "status": {"phase": "Hacked"}}
        ).json()
        put_back = http.put(f"{WIDGETS}/w", json={**obj, "status": {"phase": "AlsoHacked"}}).json()
    assert obj["spec"] == {"size": 2}
    assert obj["status"] == {"phase": "Ready"}
    assert put_back["status"] == {"phase": "Ready"}


def test_create_drops_status_where_status_is_a_subresource(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        obj = created(http, WIDGETS, {**widget("w"), "status": {"phase": "Invented"}})
    assert "status" not in obj


def test_a_status_write_checks_the_resource_version(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        stale = created(http, WIDGETS, widget("w"))
        merge_patch(http, f"{WIDGETS}/w", {"spec": {"size": 2}})
        response = http.put(f"{WIDGETS}/w/status", json={**stale, "status": {"phase": "Ready"}})
    assert response.status_code == 409


def test_builtin_deployments_have_a_status_subresource(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        created(http, DEPLOYMENTS, _deployment(1))
        merge_patch(
            http,
            f"{DEPLOYMENTS}/d/status",
            {"status": {"readyReplicas": 1}, "spec": {"replicas": 5}},
        )
        merge_patch(
            http, f"{DEPLOYMENTS}/d", {"spec": {"replicas": 3}, "status": {"readyReplicas": 7}}
        )
        obj = http.get(f"{DEPLOYMENTS}/d").json()
    assert obj["spec"]["replicas"] == 3
    assert obj["status"] == {"readyReplicas": 1}
    assert obj["metadata"]["generation"] == 2
