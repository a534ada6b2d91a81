"""Watch streams: initial state, resume from a resourceVersion, 410, timeouts, bookmarks."""

from __future__ import annotations

import itertools

import httpx
from kubernetes import client, watch

from tests.harness.kube_emulator import KubeEmulator
from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import (
    CONFIGMAPS,
    configmap,
    created,
    merge_patch,
    watch_events,
)


def _summary(events: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(e["type"], e["object"]["metadata"].get("name")) for e in events]  # type: ignore[index,attr-defined]


def test_watch_without_a_version_sends_current_objects_then_changes(
    kube_emulator: EmulatorApi,
) -> None:
    with kube_emulator.http() as http, kube_emulator.http() as writer:
        created(http, CONFIGMAPS, configmap("old"))
        events = watch_events(http, CONFIGMAPS, timeoutSeconds="5")
        first = next(events)
        created(writer, CONFIGMAPS, configmap("new"))
        merge_patch(writer, f"{CONFIGMAPS}/new", {"data": {"k": "v"}})
        writer.delete(f"{CONFIGMAPS}/new")
        rest = list(itertools.islice(events, 3))
    assert _summary([first, *rest]) == [
        ("ADDED", "old"),
        ("ADDED", "new"),
        ("MODIFIED", "new"),
        ("DELETED", "new"),
    ]
    assert rest[1]["object"]["data"] == {"k": "v"}
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in rest]
    assert versions == sorted(versions)


def test_watch_from_a_version_sends_only_later_changes(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        created(http, CONFIGMAPS, configmap("before"))
        since = http.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
        created(http, CONFIGMAPS, configmap("after"))
        merge_patch(http, f"{CONFIGMAPS}/before", {"data": {"k": "v"}})
        events = list(
            itertools.islice(
                watch_events(http, CONFIGMAPS, resourceVersion=since, timeoutSeconds="5"), 2
            )
        )
    assert _summary(events) == [("ADDED", "after"), ("MODIFIED", "before")]


def test_a_version_older_than_the_history_gets_410_gone(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        old = created(http, CONFIGMAPS, configmap("a"))["metadata"]["resourceVersion"]
        merge_patch(http, f"{CONFIGMAPS}/a", {"data": {"k": "v"}})
        kube_emulator.store.compact()
        events = list(watch_events(http, CONFIGMAPS, resourceVersion=old, timeoutSeconds="5"))
    assert len(events) == 1
    error = events[0]
    assert error["type"] == "ERROR"
    assert (error["object"]["kind"], error["object"]["code"], error["object"]["reason"]) == (
        "Status",
        410,
        "Expired",
    )
    assert error["object"]["message"].startswith(f"too old resource version: {old} (")


def test_the_history_window_is_bounded() -> None:
    with KubeEmulator(history_size=3) as emulator:
        rt = emulator.registry.find("v1", "configmaps")
        first = emulator.store.create(rt, "default", configmap("a"))["metadata"]["resourceVersion"]
        for value in "bcde":
            emulator.store.patch(
                rt, "default", "a", "application/merge-patch+json", {"data": {"v": value}}
            )
        with httpx.Client(base_url=emulator.url) as http:
            events = list(watch_events(http, CONFIGMAPS, resourceVersion=first, timeoutSeconds="5"))
            recent = emulator.store.resource_version
            kept = list(
                itertools.islice(
                    watch_events(
                        http, CONFIGMAPS, resourceVersion=str(int(recent) - 2), timeoutSeconds="5"
                    ),
                    2,
                )
            )
    assert (events[0]["type"], events[0]["object"]["code"]) == ("ERROR", 410)
    assert [e["type"] for e in kept] == ["MODIFIED", "MODIFIED"]


def test_timeout_seconds_ends_the_stream(kube_emulator: EmulatorApi) -> None:
    core = client.CoreV1Api(kube_emulator.client())
    core.create_namespaced_config_map("default", configmap("a"))
    events = list(
        watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1)
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "a")]


def test_bookmarks_carry_the_latest_resource_version(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        created(http, CONFIGMAPS, configmap("a"))
        since = http.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
        created(
            http, "/api/v1/namespaces/kube-system/configmaps", configmap("elsewhere")
        )  # moves the global version
        events = watch_events(
            http, CONFIGMAPS, resourceVersion=since, allowWatchBookmarks="true", timeoutSeconds="5"
        )
        bookmark = next(events)
        latest = http.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
    assert bookmark["type"] == "BOOKMARK"
    assert (bookmark["object"]["kind"], bookmark["object"]["apiVersion"]) == ("ConfigMap", "v1")
    assert bookmark["object"]["metadata"]["resourceVersion"] == latest


def test_send_initial_events_ends_with_a_marked_bookmark(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        created(http, CONFIGMAPS, configmap("a"))
        params = {
            "sendInitialEvents": "true",
            "resourceVersionMatch": "NotOlderThan",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "5",
        }
        events = list(itertools.islice(watch_events(http, CONFIGMAPS, **params), 2))
    assert _summary(events)[0] == ("ADDED", "a")
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_legacy_watch_paths_work(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        created(http, CONFIGMAPS, configmap("a"))
        created(http, CONFIGMAPS, configmap("b"))
        with http.stream("GET", "/api/v1/watch/namespaces/default/configmaps/b") as response:
            first = next(line for line in response.iter_lines() if line)
        with http.stream("GET", "/api/v1/watch/namespaces/default/configmaps") as response:
            listed = next(line for line in response.iter_lines() if line)
    assert '"name": "b"' in first  # "a" would come first if the name were not selected
    assert '"name": "a"' in listed
