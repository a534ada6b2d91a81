"""Namespaces: the initial ones, create/list, deletion and its effects."""

from __future__ import annotations

from kubernetes import client

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import configmap, created, json_patch


def test_default_and_system_namespaces_exist_from_the_start(kube_emulator: EmulatorApi) -> None:
    names = [
        ns.metadata.name for ns in client.CoreV1Api(kube_emulator.client()).list_namespace().items
    ]
    assert {"default", "kube-system"} <= set(names)


def test_namespaces_can_be_created_read_and_listed(kube_emulator: EmulatorApi) -> None:
    core = client.CoreV1Api(kube_emulator.client())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="team-a")))
    read = core.read_namespace("team-a")
    assert read.status.phase == "Active"
    assert read.metadata.labels == {"kubernetes.io/metadata.name": "team-a"}
    assert "team-a" in [ns.metadata.name for ns in core.list_namespace().items]


def test_deleting_a_namespace_deletes_its_objects_then_itself(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        created(http, "/api/v1/namespaces", {"metadata": {"name": "doomed"}})
        held = configmap("held")
        held["metadata"]["finalizers"] = ["test/hold"]
        created(http, "/api/v1/namespaces/doomed/configmaps", held)
        created(http, "/api/v1/namespaces/doomed/configmaps", configmap("plain"))
        terminating = http.delete("/api/v1/namespaces/doomed").json()
        assert terminating["status"]["phase"] == "Terminating"
        assert http.get("/api/v1/namespaces/doomed/configmaps/plain").status_code == 404
        refused = http.post("/api/v1/namespaces/doomed/configmaps", json=configmap("late"))
        assert refused.status_code == 403
        json_patch(
            http,
            "/api/v1/namespaces/doomed/configmaps/held",
            [{"op": "remove", "path": "/metadata/finalizers"}],
        )
        assert http.get("/api/v1/namespaces/doomed").status_code == 404


def test_the_default_namespace_cannot_be_deleted(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        response = http.delete("/api/v1/namespaces/default")
    assert response.status_code == 403
    assert (
        response.json()["message"]
        == 'namespaces "default" is forbidden: this namespace may not be deleted'
    )
