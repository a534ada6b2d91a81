"""Events (core/v1 as kopf posts them, and events.k8s.io/v1) can be created and listed."""

from __future__ import annotations

from kubernetes import client

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import created


def test_core_events_are_created_and_selected_by_involved_object(
    kube_emulator: EmulatorApi,
) -> None:
    core = client.CoreV1Api(kube_emulator.client())
    for target in ("a", "b"):
        core.create_namespaced_event(
            "default",
            {
                "metadata": {"generateName": "kopf-event-"},
                "involvedObject": {"kind": "Widget", "name": target, "namespace": "default"},
                "reason": "Logging",
                "message": f"about {target}",
                "type": "Normal",
                "source": {"component": "kopf"},
            },
        )
    events = core.list_namespaced_event("default", field_selector="involvedObject.name=b").items
    assert [(e.reason, e.message) for e in events] == [("Logging", "about b")]


def test_events_k8s_io_are_served(kube_emulator: EmulatorApi) -> None:
    path = "/apis/events.k8s.io/v1/namespaces/default/events"
    with kube_emulator.http() as http:
        created(
            http,
            path,
            {
                "metadata": {"name": "e1"},
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "reason": "Started",
                "action": "Run",
                "reportingController": "wafleet",
                "reportingInstance": "x",
                "regarding": {"kind": "Pod", "name": "p"},
                "type": "Normal",
            },
        )
        listed = http.get(path, params={"fieldSelector": "regarding.name=p"}).json()
    assert listed["kind"] == "EventList"
    assert [e["reason"] for e in listed["items"]] == ["Started"]
