"""Discovery: kopf and kubectl find resources, scopes and subresources here."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import GADGET_CRD, GROUP, WIDGET_CRD


def _resources(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in doc["resources"]}


def test_version_is_served(kube_emulator: EmulatorApi) -> None:
    version = client.VersionApi(kube_emulator.client()).get_code()
    assert (version.major, version.git_version) == ("1", "v1.37.0")


def test_core_group_lists_the_builtins_we_use(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        assert http.get("/api").json()["versions"] == ["v1"]
        core = _resources(http.get("/api/v1").json())
    for plural in (
        "namespaces",
        "configmaps",
        "secrets",
        "services",
        "serviceaccounts",
        "events",
        "pods",
    ):
        assert plural in core
    assert core["namespaces"]["namespaced"] is False
    assert core["configmaps"]["namespaced"] is True
    assert "cm" in core["configmaps"]["shortNames"]
    assert {"list", "watch", "patch", "update"} <= set(core["configmaps"]["verbs"])
    assert "pods/status" in core


def test_named_groups_list_the_builtins_we_use(kube_emulator: EmulatorApi) -> None:
    expected = {
        "apps/v1": {"statefulsets", "deployments", "statefulsets/status", "deployments/status"},
        "rbac.authorization.k8s.io/v1": {"roles", "rolebindings"},
        "coordination.k8s.io/v1": {"leases"},
        "apiextensions.k8s.io/v1": {
            "customresourcedefinitions",
            "customresourcedefinitions/status",
        },
        "events.k8s.io/v1": {"events"},
    }
    with kube_emulator.http() as http:
        groups = {g["name"]: g for g in http.get("/apis").json()["groups"]}
        for group_version, plurals in expected.items():
            group = group_version.split("/")[0]
            assert groups[group]["preferredVersion"]["groupVersion"] == group_version
            assert http.get(f"/apis/{group}").json()["kind"] == "APIGroup"
            assert plurals <= set(_resources(http.get(f"/apis/{group_version}").json()))


def test_posting_a_crd_serves_its_group_version(kube_emulator: EmulatorApi) -> None:
    extensions = client.ApiextensionsV1Api(kube_emulator.client())
    extensions.create_custom_resource_definition(WIDGET_CRD)
    extensions.create_custom_resource_definition(GADGET_CRD)

    crd = extensions.read_custom_resource_definition(f"widgets.{GROUP}")
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd.status.accepted_names.kind == "Widget"
    assert crd.status.stored_versions == ["v1"]

    with kube_emulator.http() as http:
        assert GROUP in {g["name"] for g in http.get("/apis").json()["groups"]}
        served = _resources(http.get(f"/apis/{GROUP}/v1").json())
    assert served["widgets"]["namespaced"] is True
    assert served["widgets"]["kind"] == "Widget"
    assert served["widgets"]["shortNames"] == ["wdg"]
    assert {"create", "get", "list", "watch", "patch", "update", "delete"} <= set(
        served["widgets"]["verbs"]
    )
    assert "widgets/status" in served
    assert served["gadgets"]["namespaced"] is False
    assert "gadgets/status" not in served  # not declared, not served


def test_register_crd_helper_returns_it_established(kube_emulator: EmulatorApi) -> None:
    crd = kube_emulator.register_crd(WIDGET_CRD)
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    with kube_emulator.http() as http:
        assert http.get(f"/apis/{GROUP}/v1/namespaces/default/widgets").status_code == 200


def test_an_inconsistent_crd_is_refused(kube_emulator: EmulatorApi) -> None:
    bad = {**WIDGET_CRD, "metadata": {"name": "wrong.name.example"}}
    with kube_emulator.http() as http:
        response = http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=bad)
        assert response.status_code == 422
        assert response.json()["details"]["causes"][0]["field"] == "metadata.name"
        assert http.get(f"/apis/{GROUP}/v1").status_code == 404


def test_deleting_a_crd_deletes_its_objects_and_stops_serving_it(
    kube_emulator: EmulatorApi,
) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        assert (
            http.post(
                f"/apis/{GROUP}/v1/namespaces/default/widgets", json={"metadata": {"name": "w"}}
            ).status_code
            == 201
        )
        assert (
            http.delete(
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{GROUP}"
            ).status_code
            == 200
        )
        assert http.get(f"/apis/{GROUP}/v1").status_code == 404
        assert (
            http.get(
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{GROUP}"
            ).status_code
            == 404
        )
    assert (
        kube_emulator.store.peek(
            "apiextensions.k8s.io/v1", "customresourcedefinitions", None, f"widgets.{GROUP}"
        )
        is None
    )
