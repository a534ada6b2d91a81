"""A real kopf operator (subprocess, normal startup and discovery) works against the emulator.

This is the end-to-end proof that the emulator is good enough for the
operator: kopf discovers the CRD, lists and watches, adds its finalizer with
a guarded JSON patch, runs the create handler (which creates an owned child
through the kubernetes client and writes status through /status), records
its last-handled configuration, posts events, and on deletion runs the
delete handler and releases its finalizer, after which the garbage collector
removes the child.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests import smoke_operator

OPERATOR = Path(smoke_operator.__file__)
KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
LAST_HANDLED = "kopf.zalando.org/last-handled-configuration"
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], *, within: float = 30.0) -> T:
    """Poll until `probe` returns something truthy (an upper bound, not a timing assertion)."""
    deadline = time.monotonic() + within
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s: {probe.__doc__ or probe}")
        time.sleep(0.05)


@pytest.fixture
def operator(kube_emulator: EmulatorApi, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    kube_emulator.register_crd(smoke_operator.CRD)
    log = (tmp_path / "kopf.log").open("wb")
    command = [
        sys.executable,
        "-m",
        "kopf",
        "run",
        "--standalone",
        "--all-namespaces",
        "--verbose",
        str(OPERATOR),
    ]
    process = subprocess.Popen(
        command, env=kube_emulator.env(), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    # On failure, the operator's log says why.
    sys.stdout.write((tmp_path / "kopf.log").read_text(errors="replace")[-4000:])


def test_kopf_handles_create_and_delete(
    kube_emulator: EmulatorApi, operator: subprocess.Popen[bytes]
) -> None:
    api = kube_emulator.client()
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    group, version, plural = smoke_operator.GROUP, smoke_operator.VERSION, smoke_operator.PLURAL
    custom.create_namespaced_custom_object(
        group,
        version,
        "default",
        plural,
        {
            "apiVersion": f"{group}/{version}",
            "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"greeting": "hello"},
        },
    )

    def handled() -> dict[str, Any] | None:
        """the create handler's result is in the status"""
        obj: dict[str, Any] = custom.get_namespaced_custom_object(
            group, version, "default", plural, "w1"
        )
        return obj if obj.get("status", {}).get("create_child") else None

    widget = eventually(handled)
    assert widget["status"]["phase"] == "Ready"
    assert widget["status"]["create_child"] == {"child": "w1-child"}
    assert widget["metadata"]["finalizers"] == [KOPF_FINALIZER]
    annotations = widget["metadata"]["annotations"]
    assert json.loads(annotations[LAST_HANDLED]) == {"spec": {"greeting": "hello"}}
    assert not [
        a for a in annotations if a.startswith("kopf.zalando.org/create_child")
    ]  # progress purged

    child = core.read_namespaced_config_map("w1-child", "default")
    assert child.data == {"greeting": "hello"}
    [owner] = child.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == ("Widget", "w1", widget["metadata"]["uid"])

    def posted() -> list[Any]:
        """kopf posted the handler's event"""
        events = core.list_namespaced_event(
            "default", field_selector="involvedObject.name=w1"
        ).items
        return [e for e in events if e.reason == "ChildCreated"]

    assert eventually(posted)[0].message == "created w1-child"

    custom.delete_namespaced_custom_object(group, version, "default", plural, "w1")

    def gone() -> bool:
        """the widget was released by kopf and removed"""
        return kube_emulator.store.peek(f"{group}/{version}", plural, "default", "w1") is None

    eventually(gone)
    assert core.read_namespaced_config_map("w1-farewell", "default").data == {"bye": "w1"}
    assert (
        kube_emulator.store.peek("v1", "configmaps", "default", "w1-child") is None
    )  # garbage-collected
    assert operator.poll() is None  # still running: nothing made kopf give up
