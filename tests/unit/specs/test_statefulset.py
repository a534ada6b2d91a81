"""The StatefulSet and its pod template."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from wafleet_operator.api import WhatsAppAccountSpec
from wafleet_operator.specs.labels import labels, selector_labels
from wafleet_operator.specs.runner_config import build_runner_env
from wafleet_operator.specs.statefulset import build_statefulset

from .cases import CASE_IDS, CASES, SETTINGS
from .golden import check_golden

CHART_VALUES = Path(__file__).resolve().parents[3] / "charts" / "wafleet" / "values.yaml"


def _sts(case: str, **spec_changes: Any) -> dict[str, Any]:
    c = CASES[case]
    spec = WhatsAppAccountSpec.model_validate({**c.spec, **spec_changes})
    return build_statefulset(c.account, spec, SETTINGS)


def _pod(sts: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = sts["spec"]["template"]["spec"]
    return pod


def _container(sts: dict[str, Any]) -> dict[str, Any]:
    (container,) = _pod(sts)["containers"]
    assert isinstance(container, dict)
    return container


@pytest.mark.parametrize("case", CASE_IDS)
def test_golden(case: str) -> None:
    c = CASES[case]
    check_golden(case, build_statefulset(c.account, c.parsed, SETTINGS))


def test_suspended_means_zero_replicas() -> None:
    assert _sts("protocol-suspended")["spec"]["replicas"] == 0
    assert _sts("protocol-suspended", suspended=False)["spec"]["replicas"] == 1
    assert _sts("browser-snapshots")["spec"]["replicas"] == 1
    assert _sts("browser-snapshots", suspended=True)["spec"]["replicas"] == 0


def test_suspending_and_generation_do_not_touch_the_pod_template() -> None:
    """A change that does not concern the pod must not restart the session."""
    c = CASES["browser-snapshots"]
    template = _sts("browser-snapshots")["spec"]["template"]
    assert _sts("browser-snapshots", suspended=True)["spec"]["template"] == template
    assert _sts("browser-snapshots", deletionPolicy="Delete")["spec"]["template"] == template
    later = dataclasses.replace(c.account, generation=c.account.generation + 7)
    assert build_statefulset(later, c.parsed, SETTINGS)["spec"]["template"] == template


@pytest.mark.parametrize("case", CASE_IDS)
def test_one_pod_selected_by_its_stable_labels_that_a_rollout_never_waits_for(case: str) -> None:
    """Parallel: an OrderedReady StatefulSet never replaces a pod that is not Ready
    (kubernetes/kubernetes#67250), so a fix to a failing account would never roll out."""
    c = CASES[case]
    spec = _sts(case)["spec"]
    assert spec["serviceName"] == f"waa-{c.name}"
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["updateStrategy"] == {"type": "RollingUpdate"}
    assert spec["selector"] == {"matchLabels": selector_labels(c.name)}
    assert spec["template"]["metadata"] == {"labels": labels(c.name)}
    assert "volumeClaimTemplates" not in spec
    assert _pod(_sts(case))["serviceAccountName"] == f"waa-{c.name}"


@pytest.mark.parametrize("case", CASE_IDS)
def test_locked_down_pod(case: str) -> None:
    pod = _pod(_sts(case))
    assert pod["automountServiceAccountToken"] is True
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = _container(_sts(case))
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["args"] == ["session"]
    assert container["env"] == build_runner_env(CASES[case].account, CASES[case].parsed)


@pytest.mark.parametrize("case", CASE_IDS)
def test_runner_pod_has_the_chart_pods_security_context(case: str) -> None:
    """Runner pods run locked down exactly like the operator's own pod.

    The builder cannot read the chart at run time, so this ties the two: a
    hardening added to (or dropped from) values.yaml's podSecurityContext or
    securityContext fails here until the runner's pod follows.
    """
    values = yaml.safe_load(CHART_VALUES.read_text(encoding="utf-8"))
    sts = _sts(case)
    assert _pod(sts)["securityContext"] == values["podSecurityContext"]
    assert _container(sts)["securityContext"] == values["securityContext"]


def test_grace_period_leaves_room_for_the_final_snapshot() -> None:
    assert _pod(_sts("browser-snapshots"))["terminationGracePeriodSeconds"] == 120
    assert _pod(_sts("protocol-suspended"))["terminationGracePeriodSeconds"] == 60
    assert _pod(_sts("local-no-snapshots"))["terminationGracePeriodSeconds"] == 60


@pytest.mark.parametrize("case", ["browser-snapshots", "protocol-suspended", "local-no-snapshots"])
def test_the_runner_stops_before_the_kubelet_kills_it(case: str) -> None:
    """The runner's stop budget ends well inside the grace period, leaving time to release."""
    pod = _pod(_sts(case))
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    budget = float(env["WAFLEET_STOP_TIMEOUT_SECONDS"])
    assert 0 < budget <= pod["terminationGracePeriodSeconds"] - 10


@pytest.mark.parametrize(
    ("engine", "requests", "limits"),
    [
        ("browser", {"cpu": "250m", "memory": "512Mi"}, {"memory": "1536Mi"}),
        ("protocol", {"cpu": "50m", "memory": "128Mi"}, {"memory": "384Mi"}),
        ("local", {"cpu": "10m", "memory": "64Mi"}, {"memory": "128Mi"}),
    ],
)
def test_default_resources_per_engine_without_cpu_limits(
    engine: str, requests: dict[str, str], limits: dict[str, str]
) -> None:
    resources = _container(_sts("local-no-snapshots", engine=engine))["resources"]
    assert resources == {"requests": requests, "limits": limits}


def test_image_and_resources_overrides() -> None:
    container = _container(_sts("custom-image-resources"))
    assert container["image"] == "registry.example.com/wafleet/runner:0.2.0-rc1"
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "256Mi"},
        "limits": {"memory": "1Gi"},
    }
    default = _container(_sts("local-no-snapshots"))
    assert default["image"] == SETTINGS.runner_image
    assert default["imagePullPolicy"] == SETTINGS.runner_image_pull_policy


def test_probes_use_the_named_health_port() -> None:
    container = _container(_sts("browser-snapshots"))
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "health": 8081,
        "metrics": 9090,
    }
    assert container["readinessProbe"] == {
        "httpGet": {"path": "/readyz", "port": "health"},
        "periodSeconds": 5,
        "failureThreshold": 2,
    }
    assert container["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": "health"},
        "periodSeconds": 10,
        "failureThreshold": 3,
        "initialDelaySeconds": 10,
    }


def _mounts(sts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in _container(sts)["volumeMounts"]}


def _volumes(sts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in _pod(sts)["volumes"]}


def test_browser_gets_shared_memory_and_the_snapshot_key() -> None:
    sts = _sts("browser-snapshots")
    mounts, volumes = _mounts(sts), _volumes(sts)
    assert set(mounts) == {
        "/var/lib/wafleet",
        "/tmp",
        "/dev/shm",
        "/etc/wafleet/snapshot-key",
    }
    assert volumes["dshm"] == {
        "name": "dshm",
        "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"},
    }
    # The whole Secret as a directory: the current key (`kek`, the file the runner is
    # pointed at) and, after a rotation, the retired `kek.1`, `kek.2` … beside it.
    assert volumes["snapshot-key"]["secret"] == {
        "secretName": "demo-snapshot-key",
        "defaultMode": 0o400,
    }
    assert mounts["/etc/wafleet/snapshot-key"]["readOnly"] is True
    # Every mount has its volume and every volume is mounted.
    assert {m["name"] for m in mounts.values()} == set(volumes)


def test_no_shm_for_non_browser_and_no_key_without_snapshots() -> None:
    protocol = _sts("protocol-suspended")
    assert "dshm" not in _volumes(protocol)
    assert "snapshot-key" in _volumes(protocol)
    local = _sts("local-no-snapshots")
    assert set(_volumes(local)) == {"session", "tmp"}
    assert set(_mounts(local)) == {"/var/lib/wafleet", "/tmp"}
