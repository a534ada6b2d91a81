"""What a user sees with the real kubectl: printer columns and `kubectl wait` on Ready."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.integration.conftest import REPO, Cluster, OperatorProcess, runner_report, wait_for

KUBECTL = REPO / ".tools" / "bin" / "kubectl"

pytestmark = pytest.mark.skipif(
    not KUBECTL.exists(), reason="kubectl is not installed: run `make tools`"
)


def kubectl(kube_api: Any, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBECTL), *args],
        capture_output=True,
        text=True,
        env=kube_api.env(),
        check=check,
        timeout=60,
    )


def test_get_shows_the_story_and_wait_for_ready_works(
    cluster: Cluster, kube_api: Any, wafleet_operator: OperatorProcess
) -> None:
    kubectl(kube_api, "apply", "-f", str(REPO / "samples/valid/whatsappaccount-local.yaml"))
    wait_for(
        lambda: (cluster.account("demo").get("status") or {}).get("phase") == "Pending",
        "reconciled",
    )
    table = kubectl(kube_api, "get", "waa").stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "PHONE",
        "ENGINE",
        "PHASE",
        "READY",
        "HOLDER",
        "SNAPSHOT",
        "AGE",
    ]
    assert table[1].split()[:5] == ["demo", "+15550100001", "local", "Pending", "False"]

    not_yet = kubectl(
        kube_api, "wait", "--for=condition=Ready", "waa/demo", "--timeout=1s", check=False
    )
    assert not_yet.returncode != 0

    # Stand in for the kubelet and the runner: pod ready, session connected.
    cluster.mark_pod_ready("demo")
    cluster.patch_account_status("demo", {"status": {"runner": runner_report("demo", "Connected")}})
    done = kubectl(kube_api, "wait", "--for=condition=Ready", "waa/demo", "--timeout=30s")
    assert "condition met" in done.stdout
    row = kubectl(kube_api, "get", "waa", "demo", "--no-headers").stdout.split()
    assert row[3:6] == ["Connected", "True", "waa-demo-0"]


@pytest.mark.usefixtures("wafleet_crds")
@pytest.mark.parametrize(
    "sample",
    [
        "whatsappaccount-name-with-dot.yaml",
        "whatsappaccount-region-with-spaces.yaml",
        "whatsappaccount-keep-within-too-long.yaml",
        "whatsappaccount-request-above-limit.yaml",
    ],
)
def test_kubectl_apply_refuses_bad_input_naming_the_field(kube_api: Any, sample: str) -> None:
    """The clearest error there is: the object never exists, and kubectl says which field."""
    path = REPO / "samples" / "invalid" / sample
    field = path.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect-error: ")
    done = kubectl(kube_api, "apply", "-f", str(path), check=False)
    assert done.returncode != 0, done.stdout
    assert field in done.stderr, done.stderr
    assert kubectl(kube_api, "get", "waa", "-o", "name").stdout.strip() == ""
