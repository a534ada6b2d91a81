"""On kind: the chart installs, the CRDs are served, and a sample account is accepted."""

from __future__ import annotations

import json

from tests.e2e.conftest import REPO, kubectl


def test_operator_deployment_becomes_available(kind_cluster: str) -> None:
    kubectl(
        "-n",
        "wafleet-system",
        "wait",
        "--for=condition=Available",
        "deployment",
        "-l",
        "app.kubernetes.io/name=wafleet",
        "--timeout=180s",
    )


def test_crds_are_established(kind_cluster: str) -> None:
    for plural in ("whatsappaccounts", "senderpools", "webhooksubscriptions"):
        kubectl("wait", "--for=condition=Established", f"crd/{plural}.wafleet.io", "--timeout=60s")


def test_sample_account_is_accepted_and_invalid_one_is_rejected(kind_cluster: str) -> None:
    kubectl("apply", "-f", str(REPO / "samples/valid/whatsappaccount-local.yaml"))
    got = json.loads(kubectl("get", "waa", "demo", "-o", "json").stdout)
    assert got["spec"]["engine"] == "local"
    bad = kubectl(
        "apply",
        "--validate=strict",
        "-f",
        str(REPO / "samples/invalid/whatsappaccount-bad-e164.yaml"),
        check=False,
    )
    assert bad.returncode != 0
    assert "phoneNumber" in bad.stderr


def test_sample_account_runs_its_session_pod_and_suspends(kind_cluster: str) -> None:
    """The whole path on a real cluster: operator, runner image, Lease, status, suspend."""
    kubectl("apply", "-f", str(REPO / "samples/valid/whatsappaccount-local.yaml"))
    kubectl("wait", "--for=condition=Ready", "waa/demo", "--timeout=240s")
    account = json.loads(kubectl("get", "waa", "demo", "-o", "json").stdout)
    assert account["status"]["phase"] == "Connected"
    assert account["status"]["leaseHolder"] == "waa-demo-0"
    lease = json.loads(kubectl("get", "lease", "waa-demo", "-o", "json").stdout)
    assert lease["spec"]["holderIdentity"].startswith("waa-demo-0_")
    kubectl("patch", "waa", "demo", "--type=merge", "-p", '{"spec":{"suspended":true}}')
    kubectl("wait", "--for=delete", "pod/waa-demo-0", "--timeout=180s")
    statefulset = json.loads(kubectl("get", "statefulset", "waa-demo", "-o", "json").stdout)
    assert statefulset["spec"]["replicas"] == 0
    kubectl("patch", "waa", "demo", "--type=merge", "-p", '{"spec":{"suspended":false}}')
    kubectl("wait", "--for=condition=Ready", "waa/demo", "--timeout=240s")
