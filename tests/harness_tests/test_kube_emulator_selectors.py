"""Label and field selectors on list and watch."""

from __future__ import annotations

import itertools

import pytest

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import (
    CONFIGMAPS,
    configmap,
    created,
    merge_patch,
    watch_events,
)

LABELS = {"red": {"color": "red", "tier": "web"}, "blue": {"color": "blue"}, "bare": {}}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("color=red", ["red"]),
        ("color==blue", ["blue"]),
        ("color!=red", ["bare", "blue"]),
        ("color in (red, blue)", ["blue", "red"]),
        ("color notin (red)", ["bare", "blue"]),
        ("tier", ["red"]),
        ("!tier", ["bare", "blue"]),
        ("color,!tier", ["blue"]),
        ("", ["bare", "blue", "red"]),
    ],
)
def test_label_selectors_filter_lists(
    kube_emulator: EmulatorApi, selector: str, expected: list[str]
) -> None:
    with kube_emulator.http() as http:
        for name, labels in LABELS.items():
            created(http, CONFIGMAPS, configmap(name, labels=labels))
        items = http.get(CONFIGMAPS, params={"labelSelector": selector}).json()["items"]
    assert [o["metadata"]["name"] for o in items] == expected


def test_an_unparsable_label_selector_is_400(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        assert http.get(CONFIGMAPS, params={"labelSelector": "a in b"}).status_code == 400


def test_field_selectors_on_name_and_namespace(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        created(http, "/api/v1/namespaces", {"metadata": {"name": "other"}})
        for namespace, name in itertools.product(["default", "other"], ["a", "b"]):
            created(http, f"/api/v1/namespaces/{namespace}/configmaps", configmap(name))

        def names(selector: str) -> list[tuple[str, str]]:
            items = http.get("/api/v1/configmaps", params={"fieldSelector": selector}).json()[
                "items"
            ]
            return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items]

        assert names("metadata.name=a") == [("default", "a"), ("other", "a")]
        assert names("metadata.namespace=other,metadata.name!=a") == [("other", "b")]
        assert http.get(CONFIGMAPS, params={"fieldSelector": "data.x=1"}).status_code == 400


def test_watches_apply_selectors_and_report_objects_leaving_them(
    kube_emulator: EmulatorApi,
) -> None:
    """An object that stops matching arrives as DELETED, one that starts matching as ADDED (as real)."""
    with kube_emulator.http() as http, kube_emulator.http() as writer:
        created(http, CONFIGMAPS, configmap("red", labels={"color": "red"}))
        created(http, CONFIGMAPS, configmap("blue", labels={"color": "blue"}))
        events = watch_events(http, CONFIGMAPS, labelSelector="color=red", timeoutSeconds="5")
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in [next(events)]] == [
            ("ADDED", "red")
        ]
        merge_patch(writer, f"{CONFIGMAPS}/blue", {"data": {"ignored": "yes"}})
        merge_patch(writer, f"{CONFIGMAPS}/red", {"metadata": {"labels": {"color": "green"}}})
        merge_patch(writer, f"{CONFIGMAPS}/blue", {"metadata": {"labels": {"color": "red"}}})
        seen = [(e["type"], e["object"]["metadata"]["name"]) for e in itertools.islice(events, 2)]
    assert seen == [("DELETED", "red"), ("ADDED", "blue")]
