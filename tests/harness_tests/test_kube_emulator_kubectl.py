"""A real kubectl binary against the emulator (skipped when none is installed).

Known gap: kubectl's imperative generators for built-ins (`kubectl create
configmap ...`, `create deployment`, `scale`) send protobuf bodies, which
the emulator cannot decode (415); manifests (`apply`, `create -f`) are JSON
and work.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import (
    CONFIGMAPS,
    GROUP,
    THERMOSTAT_CRD,
    WIDGET_CRD,
    WIDGETS,
    configmap,
    created,
    merge_patch,
    thermostat,
    widget,
)

REPO = Path(__file__).resolve().parents[2]
_LOCAL_KUBECTL = REPO / ".tools" / "bin" / "kubectl"  # what the Makefile installs
KUBECTL = str(_LOCAL_KUBECTL) if _LOCAL_KUBECTL.exists() else shutil.which("kubectl")

pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="no kubectl binary (make tools installs one)"
)


def kubectl(kube_emulator: EmulatorApi, *args: str, stdin: str | None = None) -> str:
    assert KUBECTL is not None
    done = subprocess.run(
        [KUBECTL, *args],
        env=kube_emulator.env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_get_lists_and_prints_yaml(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        created(http, CONFIGMAPS, configmap("settings", {"mode": "fast"}))
    assert "settings" in kubectl(kube_emulator, "get", "configmaps")
    printed = yaml.safe_load(kubectl(kube_emulator, "get", "cm", "settings", "-o", "yaml"))
    assert printed["data"] == {"mode": "fast"}
    assert printed["metadata"]["namespace"] == "default"


def test_get_shows_the_crd_printer_columns(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        created(http, WIDGETS, widget("w"))
        merge_patch(
            http,
            f"{WIDGETS}/w/status",
            {"status": {"phase": "Connected", "conditions": [{"type": "Ready", "status": "True"}]}},
        )
    header, row = kubectl(kube_emulator, "get", "wdg").splitlines()
    assert header.split() == ["NAME", "PHASE", "READY"]
    assert row.split() == ["w", "Connected", "True"]


def test_server_side_apply_creates_and_updates(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    manifest = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 1},
    }
    assert "serverside-applied" in kubectl(
        kube_emulator, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(manifest)
    )
    manifest["spec"] = {"size": 2}
    kubectl(kube_emulator, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(manifest))
    stored = kube_emulator.store.peek(f"{GROUP}/v1", "widgets", "default", "w")
    assert stored is not None
    assert stored["spec"] == {"size": 2}
    assert stored["metadata"]["generation"] == 2
    assert [m["manager"] for m in stored["metadata"]["managedFields"]] == ["kubectl"]


def test_client_side_apply_creates_then_configures(kube_emulator: EmulatorApi) -> None:
    manifest = configmap("c", {"x": "1"})
    assert "created" in kubectl(kube_emulator, "apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    manifest["data"] = {"x": "2"}
    assert "configured" in kubectl(
        kube_emulator, "apply", "-f", "-", stdin=yaml.safe_dump(manifest)
    )
    assert kubectl(kube_emulator, "get", "cm", "c", "-o", "jsonpath={.data.x}") == "2"


def test_wait_for_a_condition(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        created(http, WIDGETS, widget("w"))
        assert KUBECTL is not None
        waiting = subprocess.Popen(
            [KUBECTL, "wait", "--for=condition=Ready", "widget/w", "--timeout=30s"],
            env=kube_emulator.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            merge_patch(
                http,
                f"{WIDGETS}/w/status",
                {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            )
            out, err = waiting.communicate(timeout=60)
        finally:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert "condition met" in out


def test_delete(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        created(http, CONFIGMAPS, configmap("gone"))
        kubectl(kube_emulator, "delete", "configmap", "gone")
        assert http.get(f"{CONFIGMAPS}/gone").status_code == 404


def test_apply_of_an_invalid_custom_resource_fails(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(THERMOSTAT_CRD)
    assert KUBECTL is not None
    manifest = thermostat("t", phone="not-a-number", surprise=True)
    done = subprocess.run(
        [KUBECTL, "apply", "-f", "-"],
        env=kube_emulator.env(),
        input=yaml.safe_dump(manifest),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert 'unknown field "spec.surprise"' in done.stderr
    assert kube_emulator.store.objects(f"{GROUP}/v1", "thermostats") == []
