"""GET/LIST/PUT/PATCH (all four formats)/DELETE as the real server does them."""

from __future__ import annotations

import json

import yaml
from kubernetes import client

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import (
    CONFIGMAPS,
    GROUP,
    WIDGET_CRD,
    WIDGETS,
    configmap,
    created,
    json_patch,
    merge_patch,
    widget,
)

APPLY = {"Content-Type": "application/apply-patch+yaml"}


def test_put_replaces_the_whole_object(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        obj = created(http, CONFIGMAPS, configmap("a", {"old": "1"}, labels={"x": "1"}))
        obj["data"] = {"new": "2"}
        del obj["metadata"]["labels"]
        response = http.put(f"{CONFIGMAPS}/a", json=obj)
        assert response.status_code == 200
        stored = http.get(f"{CONFIGMAPS}/a").json()
    assert stored["data"] == {"new": "2"}
    assert "labels" not in stored["metadata"]
    assert int(stored["metadata"]["resourceVersion"]) > int(obj["metadata"]["resourceVersion"])


def test_list_within_one_namespace_and_across_all(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        created(http, "/api/v1/namespaces", {"metadata": {"name": "other"}})
        created(http, WIDGETS, widget("a"))
        created(http, f"/apis/{GROUP}/v1/namespaces/other/widgets", widget("b"))
        here = [o["metadata"]["name"] for o in http.get(WIDGETS).json()["items"]]
        everywhere = [
            (o["metadata"]["namespace"], o["metadata"]["name"])
            for o in http.get(f"/apis/{GROUP}/v1/widgets").json()["items"]
        ]
    assert here == ["a"]
    assert everywhere == [("default", "a"), ("other", "b")]


def test_merge_patch_merges_maps_and_deletes_nulls(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        created(http, CONFIGMAPS, configmap("a", {"keep": "1", "drop": "2"}))
        response = merge_patch(http, f"{CONFIGMAPS}/a", {"data": {"drop": None, "add": "3"}})
    assert response.status_code == 200
    assert response.json()["data"] == {"keep": "1", "add": "3"}


def test_json_patch_applies_operations(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        created(http, CONFIGMAPS, configmap("a", {"k": "1"}))
        response = json_patch(
            http,
            f"{CONFIGMAPS}/a",
            [
                {"op": "replace", "path": "/data/k", "value": "2"},
                {"op": "add", "path": "/metadata/labels", "value": {"x": "y"}},
            ],
        )
    assert response.status_code == 200
    assert response.json()["data"] == {"k": "2"}
    assert response.json()["metadata"]["labels"] == {"x": "y"}


def test_a_failed_json_patch_test_is_422_and_changes_nothing(kube_emulator: EmulatorApi) -> None:
    """kopf guards its finalizer patches with a test op on resourceVersion and relies on this 422."""
    with kube_emulator.http() as http:
        obj = created(http, CONFIGMAPS, configmap("a", {"k": "1"}))
        response = json_patch(
            http,
            f"{CONFIGMAPS}/a",
            [
                {"op": "test", "path": "/metadata/resourceVersion", "value": "999999"},
                {"op": "replace", "path": "/data/k", "value": "2"},
            ],
        )
        assert response.status_code == 422
        assert response.json()["reason"] == "Invalid"
        assert (
            http.get(f"{CONFIGMAPS}/a").json()["metadata"]["resourceVersion"]
            == obj["metadata"]["resourceVersion"]
        )


def test_strategic_merge_patch_on_a_custom_resource_is_415(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        created(http, WIDGETS, widget("w"))
        response = http.patch(
            f"{WIDGETS}/w",
            content=json.dumps({"spec": {"a": 1}}),
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
    assert response.status_code == 415
    assert response.json()["reason"] == "UnsupportedMediaType"


def test_strategic_merge_patch_on_a_builtin_is_served_as_a_merge(
    kube_emulator: EmulatorApi,
) -> None:
    """The kubernetes client sends dict patches of built-ins as strategic merge patches."""
    core = client.CoreV1Api(kube_emulator.client())
    core.create_namespaced_config_map("default", configmap("a", {"keep": "1"}))
    patched = core.patch_namespaced_config_map("a", "default", {"data": {"add": "2"}})
    assert patched.data == {"keep": "1", "add": "2"}


def test_server_side_apply_creates_merges_and_removes_what_the_manager_dropped(
    kube_emulator: EmulatorApi,
) -> None:
    with kube_emulator.http() as http:
        first = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a"},
            "data": {"x": "1", "y": "2"},
        }
        response = http.patch(
            f"{CONFIGMAPS}/a",
            params={"fieldManager": "me"},
            content=yaml.safe_dump(first),
            headers=APPLY,
        )
        assert response.status_code == 201
        merge_patch(http, f"{CONFIGMAPS}/a", {"data": {"theirs": "3"}})  # another writer's field
        second = {**first, "data": {"x": "10"}}  # y is no longer stated by "me"
        response = http.patch(
            f"{CONFIGMAPS}/a",
            params={"fieldManager": "me"},
            content=yaml.safe_dump(second),
            headers=APPLY,
        )
        assert response.status_code == 200
        obj = response.json()
        again = http.patch(
            f"{CONFIGMAPS}/a",
            params={"fieldManager": "me"},
            content=yaml.safe_dump(second),
            headers=APPLY,
        )
    assert obj["data"] == {"x": "10", "theirs": "3"}
    [entry] = obj["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"]) == ("me", "Apply")
    assert entry["fieldsV1"] == {"f:data": {"f:x": {}}}
    assert (
        again.json()["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
    )  # a no-op


def test_server_side_apply_needs_a_field_manager(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        body = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
        response = http.patch(f"{CONFIGMAPS}/a", content=body, headers=APPLY)
    assert response.status_code == 422


def test_delete_answers_like_the_real_server(kube_emulator: EmulatorApi) -> None:
    """Built-ins answer a Success Status, custom resources the deleted object."""
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        created(http, CONFIGMAPS, configmap("a"))
        created(http, WIDGETS, widget("w"))
        status = http.delete(f"{CONFIGMAPS}/a")
        deleted = http.delete(f"{WIDGETS}/w")
        assert http.get(f"{CONFIGMAPS}/a").status_code == 404
    assert (status.status_code, status.json()["status"], status.json()["details"]["name"]) == (
        200,
        "Success",
        "a",
    )
    assert (deleted.status_code, deleted.json()["kind"]) == (200, "Widget")
