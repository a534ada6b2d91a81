"""Two runners for one account on the real API server: the duplicated-pod case.

The real operator creates the account's ServiceAccount, Role, Lease and
StatefulSet; the kubelet stand-in runs the pod's runner exactly as the pod
spec declares it (authenticated as `waa-<account>` by a TokenRequest token),
and `kubelet.run_duplicate` starts a second process for the same pod, as a
partitioned node whose old pod still runs would.

What must hold: the runner without the lease never replaces the leader's
`status.runner` (the defect: the standby's first report wiped the leader's
phase and token, and the account waited for "the runner's first report" for
good); the leader re-asserts a report that was lost or overwritten; a killed
leader is replaced by the standby with a higher fencing token whose report
lands; SIGTERM of the leader releases the Lease.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from session_runner.kube.client import KubeApiError, KubeClient
from session_runner.kube.connection import from_kubeconfig
from session_runner.session.report import KubernetesReporter, RunnerFacts, WriteDecision
from tests.harness.control_plane.kubelet import Kubelet, PodProcess
from tests.harness.kube import KubeApi
from tests.integration.conftest import Cluster, OperatorProcess, wait_for

ACCOUNT = "dup"
POD = f"waa-{ACCOUNT}-0"
LEASE = f"waa-{ACCOUNT}"
#: Short lease timings so a takeover after kill -9 takes seconds (production: 15 / 10 / 2).
SPEC = {
    "phoneNumber": "+15550100043",
    "engine": "local",
    "lease": {"durationSeconds": 4, "renewDeadlineSeconds": 3, "retryPeriodSeconds": 1},
}


def runner_status(cluster: Cluster) -> dict[str, Any]:
    return dict((cluster.account(ACCOUNT).get("status") or {}).get("runner") or {})


def lease_spec(cluster: Cluster) -> Any:
    return cluster.coordination.read_namespaced_lease(LEASE, cluster.namespace).spec


def json_lines(proc: PodProcess) -> list[dict[str, Any]]:
    lines = []
    for line in proc.logs().splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def acquired_by(proc: PodProcess) -> set[str]:
    """The lease identities this process acquired with (the elector's `extra` in its log)."""
    return {
        str(line["identity"])
        for line in json_lines(proc)
        if line.get("event") == "lease acquired" and "identity" in line
    }


def withheld_reports(proc: PodProcess) -> list[dict[str, Any]]:
    return [
        line
        for line in json_lines(proc)
        if str(line.get("event", "")).startswith("status report withheld")
    ]


def ready(cluster: Cluster) -> bool:
    condition = cluster.condition(ACCOUNT, "Ready") or {}
    return condition.get("status") == "True"


def leading_and_reported(cluster: Cluster, above: int) -> tuple[str, int] | None:
    """(holder, token) once a runner holds the Lease with a token above `above` and its
    Connected report, carrying that token, is what the account's status says."""
    spec = lease_spec(cluster)
    token = spec.lease_transitions or 0
    report = runner_status(cluster)
    if (
        spec.holder_identity
        and token > above
        and report.get("fencingToken") == token
        and report.get("phase") == "Connected"
    ):
        return str(spec.holder_identity), token
    return None


def describe(cluster: Cluster, kubelet: Kubelet) -> str:
    """What a failed wait for the pod's runner needs: the pods, the node, the stand-in's errors."""
    pod_list: list[Any] = cluster.core.list_namespaced_pod(cluster.namespace).items
    node_list: list[Any] = cluster.core.list_node().items
    event_list: list[Any] = cluster.core.list_namespaced_event(cluster.namespace).items
    pods = [
        (p.metadata.name, p.spec.node_name, p.status.phase, p.status.container_statuses)
        for p in pod_list
    ]
    nodes = [(n.metadata.name, n.spec.taints) for n in node_list]
    events = [
        f"{e.involved_object.kind}/{e.involved_object.name} {e.reason}: {e.message}"
        for e in event_list
    ]
    return (
        f"pods: {pods}\nnodes: {nodes}\nkubelet errors: {kubelet.errors[-3:]}\n"
        f"running: {sorted(kubelet.pods)}\nevents:\n" + "\n".join(events)
    )


def test_a_duplicate_never_overwrites_the_leaders_report_and_takes_over_when_it_dies(
    kube_api: KubeApi, cluster: Cluster, wafleet_operator: OperatorProcess, kubelet: Kubelet
) -> None:
    cluster.create_account(ACCOUNT, SPEC)

    # The pod's runner leads; the account is Connected and Ready.
    try:
        holder, token = wait_for(lambda: leading_and_reported(cluster, -1), "the pod's runner", 180)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{describe(cluster, kubelet)}") from None
    wait_for(lambda: ready(cluster), "the account Ready", 120)
    leader = kubelet.pods[POD]
    assert holder in acquired_by(leader)

    # A second process of the same pod: it must not touch the leader's report.
    duplicate = kubelet.run_duplicate(POD)
    wait_for(
        lambda: withheld_reports(duplicate) or runner_status(cluster).get("phase") != "Connected",
        "the duplicate's first report (withheld, or written over the leader's)",
        120,
    )
    report = runner_status(cluster)
    assert (report.get("phase"), report.get("fencingToken")) == ("Connected", token)
    first = withheld_reports(duplicate)[0]
    assert (first["phase"], first["current_token"]) == ("Standby", token)
    assert lease_spec(cluster).holder_identity == holder
    assert ready(cluster)

    # A write that is lost or overwritten (here by hand) heals: the leader re-asserts.
    cluster.patch_account_status(
        ACCOUNT,
        {"status": {"runner": {"phase": "Standby", "fencingToken": None, "message": "lost"}}},
    )
    wait_for(
        lambda: leading_and_reported(cluster, token - 1) == (holder, token),
        "the leader re-asserting its report",
        120,
    )

    # kill -9 of the leader: another runner takes over with a higher token and reports.
    leader.signal(signal.SIGKILL)
    leader.process.wait(timeout=30)
    new_holder, new_token = wait_for(
        lambda: leading_and_reported(cluster, token), "a takeover after kill -9", 180
    )
    assert new_holder != holder
    pod_runner = wait_for(
        lambda: (p := kubelet.pods.get(POD)) is not None and p is not leader and p,
        "the kubelet restarting the pod's container",
    )
    if new_holder in acquired_by(duplicate):
        # The usual winner: it was watching the Lease all along. While it leads, the
        # account is Connected (its pod, a standby now, is not ready). Kill it too, so the
        # pod's own runner leads and the account is Ready again.
        duplicate.signal(signal.SIGKILL)
        duplicate.process.wait(timeout=30)
        new_holder, new_token = wait_for(
            lambda: leading_and_reported(cluster, new_token), "the pod's runner taking over", 180
        )
    else:
        # The pod's restarted runner won; the duplicate, a standby, stops: its "Stopped"
        # report must not land over the leader's either.
        duplicate.signal(signal.SIGTERM)
        assert duplicate.process.wait(timeout=60) == 0
        report = runner_status(cluster)
        assert (report.get("phase"), report.get("fencingToken")) == ("Connected", new_token)
    assert new_holder in acquired_by(pod_runner)
    wait_for(lambda: ready(cluster), "the account Ready under its new leader", 120)
    assert (cluster.account(ACCOUNT).get("status") or {}).get("fencingToken") == new_token

    # SIGTERM of the leader (the kubelet's, on scale-down to 0) releases the Lease.
    cluster.patch_account(ACCOUNT, {"spec": {"suspended": True}})
    assert pod_runner.process.wait(timeout=120) == 0
    assert lease_spec(cluster).holder_identity is None
    final = runner_status(cluster)
    assert (final.get("phase"), final.get("fencingToken")) == ("Stopped", new_token)
    assert any(line.get("event") == "lease released" for line in json_lines(pod_runner))


async def test_the_report_write_is_conditional_on_the_real_server(
    kube_api: KubeApi, cluster: Cluster
) -> None:
    """The reporter's decision and precondition against the real API server (admin client).

    The last step is the server behaviour the design relies on: a merge patch of
    the status carrying an outdated resourceVersion is refused with 409.
    """
    cluster.create_account(ACCOUNT, SPEC)
    async with KubeClient(from_kubeconfig(kube_api.kubeconfig)) as client:
        reporter = KubernetesReporter(client, kube_api.namespace, ACCOUNT)
        leader = RunnerFacts("Connected", POD, 3, message="session connected", last_token=3)
        assert await reporter.report(leader) is WriteDecision.WRITE
        assert await reporter.report(RunnerFacts("Standby", POD)) is WriteDecision.NOT_MINE
        assert await reporter.report(leader, refresh=True) is WriteDecision.UNCHANGED
        report = runner_status(cluster)
        assert (report["phase"], report["fencingToken"]) == ("Connected", 3)

        path = (
            f"/apis/wafleet.io/v1alpha1/namespaces/{kube_api.namespace}/whatsappaccounts/{ACCOUNT}"
        )
        version = (await client.request("GET", path))["metadata"]["resourceVersion"]
        cluster.patch_account(ACCOUNT, {"metadata": {"annotations": {"touched": "yes"}}})
        stale = {"metadata": {"resourceVersion": version}, "status": {"runner": {"phase": "x"}}}
        with pytest.raises(KubeApiError) as refused:
            await client.request(
                "PATCH", f"{path}/status", stale, content_type="application/merge-patch+json"
            )
        assert refused.value.status == 409
    assert runner_status(cluster)["phase"] == "Connected"
