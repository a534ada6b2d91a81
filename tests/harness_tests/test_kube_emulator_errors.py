"""Create/read errors answer the real server's codes and Status bodies."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import CONFIGMAPS, configmap, created


def test_create_answers_201_with_the_object(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        response = http.post(CONFIGMAPS, json=configmap("a", {"k": "v"}))
    assert response.status_code == 201
    assert response.json()["data"] == {"k": "v"}


def test_a_duplicate_create_is_409_already_exists(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        created(http, CONFIGMAPS, configmap("a"))
        response = http.post(CONFIGMAPS, json=configmap("a"))
    assert response.status_code == 409
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "a" already exists',
        "reason": "AlreadyExists",
        "details": {"name": "a", "kind": "configmaps"},
        "code": 409,
    }


def test_a_missing_object_is_404_not_found(kube_emulator: EmulatorApi) -> None:
    core = client.CoreV1Api(kube_emulator.client())
    with pytest.raises(client.ApiException) as caught:
        core.read_namespaced_config_map("nope", "default")
    assert caught.value.status == 404
    with kube_emulator.http() as http:
        status = http.get(f"{CONFIGMAPS}/nope").json()
        assert (status["reason"], status["details"]) == (
            "NotFound",
            {"name": "nope", "kind": "configmaps"},
        )
        assert http.delete(f"{CONFIGMAPS}/nope").status_code == 404
        assert http.get("/apis/nothing.example/v1/things").status_code == 404


def test_create_without_a_name_is_422_invalid(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        response = http.post(CONFIGMAPS, json={"metadata": {}})
    assert response.status_code == 422
    status = response.json()
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: name or generateName is required",
            "field": "metadata.name",
        }
    ]


def test_an_invalid_name_is_422(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        response = http.post(CONFIGMAPS, json=configmap("Not_Valid"))
    assert response.status_code == 422
    assert response.json()["details"]["causes"][0]["field"] == "metadata.name"


def test_put_with_a_name_other_than_the_urls_is_refused(kube_emulator: EmulatorApi) -> None:
    """The real server answers 400 BadRequest here (handlers/rest checkName), not 422."""
    with kube_emulator.http() as http:
        obj = created(http, CONFIGMAPS, configmap("a"))
        obj["metadata"]["name"] = "b"
        response = http.put(f"{CONFIGMAPS}/a", json=obj)
    assert response.status_code == 400
    assert (
        response.json()["message"]
        == "the name of the object (b) does not match the name on the URL (a)"
    )


def test_create_in_a_missing_namespace_is_404(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        response = http.post("/api/v1/namespaces/ghost/configmaps", json=configmap("a"))
    assert response.status_code == 404
    assert response.json()["message"] == 'namespaces "ghost" not found'


def test_a_body_of_another_kind_is_400(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        response = http.post(
            CONFIGMAPS, json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}}
        )
    assert response.status_code == 400
