"""Finalizers and deletionTimestamp."""

from __future__ import annotations

import itertools

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import (
    WIDGET_CRD,
    WIDGETS,
    created,
    json_patch,
    merge_patch,
    watch_events,
    widget,
)

FINALIZER = "wafleet.io/cleanup"


def _doomed(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        body = widget("w")
        body["metadata"]["finalizers"] = [FINALIZER]
        created(http, WIDGETS, body)


def test_delete_of_an_object_with_finalizers_only_marks_it(kube_emulator: EmulatorApi) -> None:
    _doomed(kube_emulator)
    with kube_emulator.http() as http:
        response = http.delete(f"{WIDGETS}/w")
        assert response.status_code == 200
        marked = response.json()
        assert http.get(f"{WIDGETS}/w").status_code == 200
        again = http.delete(f"{WIDGETS}/w").json()
    meta = marked["metadata"]
    assert meta["deletionTimestamp"].endswith("Z")
    assert meta["deletionGracePeriodSeconds"] == 0
    assert meta["finalizers"] == [FINALIZER]
    assert meta["generation"] == 2  # setting deletionTimestamp bumps generation, as real
    assert (
        again["metadata"]["resourceVersion"] == meta["resourceVersion"]
    )  # a second delete changes nothing


def test_the_object_goes_away_when_its_last_finalizer_is_removed(
    kube_emulator: EmulatorApi,
) -> None:
    _doomed(kube_emulator)
    with kube_emulator.http() as http, kube_emulator.http() as writer:
        since = http.get(WIDGETS).json()["metadata"]["resourceVersion"]
        writer.delete(f"{WIDGETS}/w")
        response = json_patch(
            writer, f"{WIDGETS}/w", [{"op": "remove", "path": "/metadata/finalizers"}]
        )
        assert response.status_code == 200
        assert http.get(f"{WIDGETS}/w").status_code == 404
        events = list(
            itertools.islice(
                watch_events(http, WIDGETS, resourceVersion=since, timeoutSeconds="5"), 2
            )
        )
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert "finalizers" not in events[1]["object"]["metadata"]


def test_no_new_finalizers_on_an_object_being_deleted(kube_emulator: EmulatorApi) -> None:
    _doomed(kube_emulator)
    with kube_emulator.http() as http:
        http.delete(f"{WIDGETS}/w")
        response = merge_patch(
            http, f"{WIDGETS}/w", {"metadata": {"finalizers": [FINALIZER, "late/one"]}}
        )
        assert response.status_code == 422
        cause = response.json()["details"]["causes"][0]
        assert cause["field"] == "metadata.finalizers"
        assert cause["message"] == (
            'Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"late/one"}'
        )
        # Other changes to a terminating object are still fine.
        assert (
            merge_patch(
                http, f"{WIDGETS}/w", {"metadata": {"labels": {"still": "editable"}}}
            ).status_code
            == 200
        )
