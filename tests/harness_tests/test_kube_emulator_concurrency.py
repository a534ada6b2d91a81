"""Optimistic concurrency: resourceVersion preconditions on PUT and PATCH."""

from __future__ import annotations

import pytest

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import (
    CONFIGMAPS,
    WIDGET_CRD,
    WIDGETS,
    configmap,
    created,
    merge_patch,
    widget,
)

CONFLICT = (
    'Operation cannot be fulfilled on configmaps "a": '
    "the object has been modified; please apply your changes to the latest version and try again"
)
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


def test_put_with_a_stale_resource_version_is_409_conflict(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        stale = created(http, CONFIGMAPS, configmap("a", {"v": "1"}))
        fresh = dict(stale, data={"v": "2"})
        assert http.put(f"{CONFIGMAPS}/a", json=fresh).status_code == 200
        response = http.put(f"{CONFIGMAPS}/a", json=dict(stale, data={"v": "3"}))
        assert response.status_code == 409
        assert (response.json()["reason"], response.json()["message"]) == ("Conflict", CONFLICT)
        assert http.get(f"{CONFIGMAPS}/a").json()["data"] == {"v": "2"}


def test_patch_carrying_a_stale_resource_version_is_409(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        obj = created(http, CONFIGMAPS, configmap("a"))
        rv = obj["metadata"]["resourceVersion"]
        merge_patch(http, f"{CONFIGMAPS}/a", {"data": {"moved": "on"}})
        response = merge_patch(
            http, f"{CONFIGMAPS}/a", {"metadata": {"resourceVersion": rv}, "data": {"x": "y"}}
        )
    assert response.status_code == 409


def test_patch_with_the_current_resource_version_applies(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        obj = created(http, CONFIGMAPS, configmap("a"))
        response = merge_patch(
            http,
            f"{CONFIGMAPS}/a",
            {
                "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                "data": {"x": "y"},
            },
        )
    assert response.status_code == 200


def test_patch_without_a_resource_version_applies_unconditionally(
    kube_emulator: EmulatorApi,
) -> None:
    with kube_emulator.http() as http:
        created(http, CONFIGMAPS, configmap("a"))
        merge_patch(http, f"{CONFIGMAPS}/a", {"data": {"first": "1"}})
        response = merge_patch(http, f"{CONFIGMAPS}/a", {"data": {"second": "2"}})
    assert response.status_code == 200
    assert response.json()["data"] == {"first": "1", "second": "2"}


@pytest.mark.parametrize("kind", ["widget", "lease"])
def test_put_without_a_resource_version_is_422_where_the_real_strategy_requires_one(
    kube_emulator: EmulatorApi, kind: str
) -> None:
    """Custom resources, CRDs and Leases refuse unconditional updates."""
    kube_emulator.register_crd(WIDGET_CRD)
    path, body = (
        (WIDGETS, widget("a", x=1))
        if kind == "widget"
        else (LEASES, {"metadata": {"name": "a"}, "spec": {}})
    )
    with kube_emulator.http() as http:
        obj = created(http, path, body)
        del obj["metadata"]["resourceVersion"]
        response = http.put(f"{path}/a", json=obj)
    assert response.status_code == 422
    assert response.json()["details"]["causes"][0] == {
        "reason": "FieldValueInvalid",
        "message": "Invalid value: 0x0: must be specified for an update",
        "field": "metadata.resourceVersion",
    }


def test_put_without_a_resource_version_updates_a_configmap(kube_emulator: EmulatorApi) -> None:
    """ConfigMaps (like most built-ins) allow unconditional updates on a real server."""
    with kube_emulator.http() as http:
        created(http, CONFIGMAPS, configmap("a", {"v": "1"}))
        response = http.put(f"{CONFIGMAPS}/a", json=configmap("a", {"v": "2"}))
    assert response.status_code == 200
    assert response.json()["data"] == {"v": "2"}


def test_put_of_a_missing_lease_creates_it(kube_emulator: EmulatorApi) -> None:
    """Leases allow create-on-update (AllowCreateOnUpdate), as client-go's leader election expects."""
    with kube_emulator.http() as http:
        response = http.put(
            f"{LEASES}/fresh",
            json={"metadata": {"name": "fresh"}, "spec": {"holderIdentity": "me"}},
        )
        assert response.status_code == 201
        assert http.put(f"{CONFIGMAPS}/fresh", json=configmap("fresh")).status_code == 404
