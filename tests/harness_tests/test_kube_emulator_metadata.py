"""Server-stamped metadata and list envelopes, as clients parse them."""

from __future__ import annotations

import re

from kubernetes import client

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import (
    CONFIGMAPS,
    WIDGET_CRD,
    WIDGETS,
    configmap,
    created,
    widget,
)

RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_created_objects_are_stamped_by_the_server(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        body = configmap("a")
        body["metadata"].update(
            uid="client-chosen", resourceVersion="", creationTimestamp="1999-01-01T00:00:00Z"
        )
        obj = created(http, CONFIGMAPS, body)
    meta = obj["metadata"]
    assert re.match(r"^[0-9a-f-]{36}$", meta["uid"])  # a server uuid, not "client-chosen"
    assert RFC3339_Z.match(meta["creationTimestamp"])
    assert meta["creationTimestamp"] != "1999-01-01T00:00:00Z"
    assert meta["namespace"] == "default"  # from the URL
    assert int(meta["resourceVersion"]) > 0
    assert (obj["apiVersion"], obj["kind"]) == ("v1", "ConfigMap")


def test_resource_version_is_one_global_increasing_counter(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        versions = [
            created(http, CONFIGMAPS, configmap("a"))["metadata"]["resourceVersion"],
            created(http, WIDGETS, widget("w"))["metadata"]["resourceVersion"],
            created(http, CONFIGMAPS, configmap("b"))["metadata"]["resourceVersion"],
        ]
        listed = http.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
    numbers = [int(v) for v in versions]
    assert numbers == sorted(set(numbers))  # increasing, no repeats
    assert int(listed) >= numbers[-1]
    assert all(isinstance(v, str) for v in versions)


def test_lists_carry_kind_api_version_and_resource_version(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        created(http, WIDGETS, widget("w"))
        widgets = http.get(WIDGETS).json()
        deployments = http.get("/apis/apps/v1/deployments").json()
    assert (widgets["kind"], widgets["apiVersion"]) == ("WidgetList", "samples.wafleet.test/v1")
    assert widgets["metadata"]["resourceVersion"].isdigit()
    assert widgets["items"][0]["kind"] == "Widget"
    assert (deployments["kind"], deployments["apiVersion"], deployments["items"]) == (
        "DeploymentList",
        "apps/v1",
        [],
    )


def test_generate_name_makes_a_unique_name(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        first = created(http, CONFIGMAPS, {"metadata": {"generateName": "job-"}})
        second = created(http, CONFIGMAPS, {"metadata": {"generateName": "job-"}})
    names = {first["metadata"]["name"], second["metadata"]["name"]}
    assert len(names) == 2
    assert all(re.match(r"^job-[a-z0-9]{5}$", n) for n in names)


def test_typed_clients_deserialize_every_answer(kube_emulator: EmulatorApi) -> None:
    """Typed models need apiVersion/kind and well-formed metadata; create must be 201 to return the object."""
    core = client.CoreV1Api(kube_emulator.client())
    made = core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a"), data={"k": "v"})
    )
    assert isinstance(made, client.V1ConfigMap)
    assert made.metadata.creation_timestamp is not None
    read = core.read_namespaced_config_map("a", "default")
    assert read.metadata.uid == made.metadata.uid
    listed = core.list_config_map_for_all_namespaces()
    assert [m.metadata.name for m in listed.items] == ["a"]
    assert listed.metadata.resource_version
