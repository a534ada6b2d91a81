"""metadata.generation and no-op writes."""

from __future__ import annotations

from typing import Any

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import (
    CONFIGMAPS,
    GADGET_CRD,
    GADGETS,
    WIDGET_CRD,
    WIDGETS,
    configmap,
    created,
    merge_patch,
    widget,
)


def _meta(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    meta: dict[str, Any] = response.json()["metadata"]
    return meta


def test_generation_starts_at_one_and_counts_spec_changes_only(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        assert created(http, WIDGETS, widget("w", size=1))["metadata"]["generation"] == 1
        assert (
            _meta(merge_patch(http, f"{WIDGETS}/w", {"metadata": {"labels": {"a": "b"}}}))[
                "generation"
            ]
            == 1
        )
        assert (
            _meta(merge_patch(http, f"{WIDGETS}/w/status", {"status": {"phase": "Ready"}}))[
                "generation"
            ]
            == 1
        )
        assert _meta(merge_patch(http, f"{WIDGETS}/w", {"spec": {"size": 2}}))["generation"] == 2


def test_status_counts_as_content_where_no_status_subresource_exists(
    kube_emulator: EmulatorApi,
) -> None:
    """The real CR strategy bumps generation for any non-metadata change; without /status that includes status."""
    kube_emulator.register_crd(GADGET_CRD)
    with kube_emulator.http() as http:
        created(http, GADGETS, {"metadata": {"name": "g"}, "spec": {}})
        meta = _meta(merge_patch(http, f"{GADGETS}/g", {"status": {"phase": "Ready"}}))
    assert meta["generation"] == 2


def test_a_write_that_changes_nothing_keeps_the_resource_version(
    kube_emulator: EmulatorApi,
) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        obj = created(http, WIDGETS, widget("w", size=1))
        rv = obj["metadata"]["resourceVersion"]
        assert (
            _meta(merge_patch(http, f"{WIDGETS}/w", {"spec": {"size": 1}}))["resourceVersion"] == rv
        )
        assert _meta(http.put(f"{WIDGETS}/w", json=obj))["resourceVersion"] == rv
        cm = created(http, CONFIGMAPS, configmap("a", {"k": "v"}))
        assert (
            _meta(merge_patch(http, f"{CONFIGMAPS}/a", {"data": {"k": "v"}}))["resourceVersion"]
            == cm["metadata"]["resourceVersion"]
        )


def test_builtins_without_generation_have_none(kube_emulator: EmulatorApi) -> None:
    """ConfigMaps have no generation on a real server; Deployments do."""
    deployment = {
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}},
        },
    }
    with kube_emulator.http() as http:
        assert "generation" not in created(http, CONFIGMAPS, configmap("a"))["metadata"]
        assert (
            created(http, "/apis/apps/v1/namespaces/default/deployments", deployment)["metadata"][
                "generation"
            ]
            == 1
        )
