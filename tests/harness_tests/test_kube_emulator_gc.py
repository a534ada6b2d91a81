"""Owner-reference garbage collection and propagation policies."""

from __future__ import annotations

from typing import Any

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import (
    CONFIGMAPS,
    WIDGET_CRD,
    WIDGETS,
    configmap,
    created,
    json_patch,
    widget,
)


def _owned_by(*owners: dict[str, Any], block: bool = False) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": o["apiVersion"],
            "kind": o["kind"],
            "name": o["metadata"]["name"],
            "uid": o["metadata"]["uid"],
            **({"blockOwnerDeletion": True} if block else {}),
        }
        for o in owners
    ]


def test_dependents_go_when_their_owner_goes(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        owner = created(http, WIDGETS, widget("owner"))
        child = created(http, CONFIGMAPS, configmap("child", ownerReferences=_owned_by(owner)))
        created(http, CONFIGMAPS, configmap("grandchild", ownerReferences=_owned_by(child)))
        created(http, CONFIGMAPS, configmap("bystander"))
        assert http.delete(f"{WIDGETS}/owner").status_code == 200
        names = [o["metadata"]["name"] for o in http.get(CONFIGMAPS).json()["items"]]
    assert names == ["bystander"]


def test_a_dependent_with_a_surviving_owner_stays(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        first = created(http, WIDGETS, widget("first"))
        second = created(http, WIDGETS, widget("second"))
        created(http, CONFIGMAPS, configmap("shared", ownerReferences=_owned_by(first, second)))
        http.delete(f"{WIDGETS}/first")
        assert http.get(f"{CONFIGMAPS}/shared").status_code == 200
        http.delete(f"{WIDGETS}/second")
        assert http.get(f"{CONFIGMAPS}/shared").status_code == 404


def test_orphan_propagation_keeps_dependents_and_drops_the_reference(
    kube_emulator: EmulatorApi,
) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        owner = created(http, WIDGETS, widget("owner"))
        created(http, CONFIGMAPS, configmap("child", ownerReferences=_owned_by(owner)))
        http.request("DELETE", f"{WIDGETS}/owner", json={"propagationPolicy": "Orphan"})
        child = http.get(f"{CONFIGMAPS}/child")
    assert child.status_code == 200
    assert "ownerReferences" not in child.json()["metadata"]


def test_foreground_deletion_waits_for_blocking_dependents(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        owner = created(http, WIDGETS, widget("owner"))
        child = configmap("child", ownerReferences=_owned_by(owner, block=True))
        child["metadata"]["finalizers"] = ["test/hold"]
        created(http, CONFIGMAPS, child)
        response = http.delete(f"{WIDGETS}/owner", params={"propagationPolicy": "Foreground"})
        assert "foregroundDeletion" in response.json()["metadata"]["finalizers"]
        # The dependent is being deleted but holds on: the owner waits for it.
        assert http.get(f"{CONFIGMAPS}/child").json()["metadata"]["deletionTimestamp"]
        assert http.get(f"{WIDGETS}/owner").status_code == 200
        json_patch(http, f"{CONFIGMAPS}/child", [{"op": "remove", "path": "/metadata/finalizers"}])
        assert http.get(f"{CONFIGMAPS}/child").status_code == 404
        assert http.get(f"{WIDGETS}/owner").status_code == 404


def test_an_object_created_with_an_absent_owner_is_collected(kube_emulator: EmulatorApi) -> None:
    """A real GC deletes dependents whose owners do not exist (it looks them up)."""
    with kube_emulator.http() as http:
        ghost = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"},
        }
        assert (
            http.post(
                CONFIGMAPS, json=configmap("child", ownerReferences=_owned_by(ghost))
            ).status_code
            == 201
        )
        assert http.get(f"{CONFIGMAPS}/child").status_code == 404


def test_an_update_that_points_at_an_absent_owner_is_collected(kube_emulator: EmulatorApi) -> None:
    """The collector also notices a dependent re-pointed at a gone owner by a later write."""
    with kube_emulator.http() as http:
        assert http.post(CONFIGMAPS, json=configmap("child")).status_code == 201
        ghost = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "ghost", "uid": "00000000-0000-0000-0000-00000000dead"},
        }
        patched = http.patch(
            f"{CONFIGMAPS}/child",
            json={"metadata": {"ownerReferences": _owned_by(ghost)}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert patched.status_code == 200
        assert http.get(f"{CONFIGMAPS}/child").status_code == 404
