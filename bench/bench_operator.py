"""`make bench ONLY=operator`: the real operator converging 1,000 accounts on a real control plane.

The API server is the one the tests use (etcd + kube-apiserver +
kube-controller-manager + kube-scheduler v1.36.2, started here outside pytest
in a temp folder and stopped afterwards): real admission, real server-side
apply, real watches, and the StatefulSet controller creating each account's
pod (which stays Pending: there is no kubelet). An emulator's figures said
nothing about what a real server costs, which is the point of the metric.

Metrics (issue: operator):
- converge_1000_seconds: from the first account created until every account has
  its StatefulSet and a written status. Baseline, measured in the same run
  against the same server: a plain client creating the same accounts, applying
  the same 6,000 children and writing 1,000 statuses directly, so the ratio
  says what kopf and our reconcile add over the API floor.
- peak_rss_mb: the operator process's peak resident set (VmHWM). Baseline: the
  same process started with no accounts (kopf, both clients, our code).

The two phases use their own namespaces, and the second starts only once the
controller manager has caught up with the first (every floor StatefulSet has
its pod), so neither phase pays for the other's background work.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from kubernetes import client, config

from bench.result import BenchResult
from tests.harness.control_plane import ControlPlane, find_assets, start_control_plane
from tests.harness.devserver import free_port
from tests.harness.kube import apply_crds, crd_documents

ACCOUNTS = int(os.environ.get("WAFLEET_BENCH_ACCOUNTS", "1000"))
GOAL_SECONDS, GOAL_RSS_MB = 60.0, 150.0
FLOOR_NS, OPERATOR_NS = "bench-floor", "bench-operator"
GROUP, VERSION, PLURAL = "wafleet.io", "v1alpha1", "whatsappaccounts"
CONVERGE_LIMIT_S = 1800.0  # a shared 2-core machine may be slow; a hang must still end
SETTLE_LIMIT_S = 600.0


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _account(name: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WhatsAppAccount",
        "metadata": {"name": name},
        "spec": {"phoneNumber": f"+1415555{i:04d}", "engine": "local"},
    }


def _create_all(custom: client.CustomObjectsApi, count: int) -> None:
    def create(i: int) -> None:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, OPERATOR_NS, PLURAL, _account(f"acct-{i:04d}", i)
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(create, range(count)))


def _converged(custom: client.CustomObjectsApi, apps: client.AppsV1Api, names: set[str]) -> bool:
    listing = cast(
        dict[str, Any], custom.list_namespaced_custom_object(GROUP, VERSION, OPERATOR_NS, PLURAL)
    )
    with_status = {
        i["metadata"]["name"] for i in listing["items"] if (i.get("status") or {}).get("phase")
    }
    sts = {
        str(s.metadata.name if s.metadata else "").removeprefix("waa-")
        for s in apps.list_namespaced_stateful_set(OPERATOR_NS).items
    }
    return names <= with_status and names <= sts


def _wait_settled(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> None:
    """Until the StatefulSet controller has made every pod of `namespace` (it works at its own qps)."""
    deadline = time.monotonic() + SETTLE_LIMIT_S
    while time.monotonic() < deadline:
        sets = len(apps.list_namespaced_stateful_set(namespace).items)
        pods = len(core.list_namespaced_pod(namespace).items)
        if pods >= sets:
            return
        time.sleep(2.0)
    raise RuntimeError(
        f"{namespace}: the controller manager did not catch up in {SETTLE_LIMIT_S} s"
    )


def _start_operator(kubeconfig: Path, log: Path, metrics_port: int) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("WAFLEET_", "KUBE"))},
        "KUBECONFIG": str(kubeconfig),
        "WAFLEET_NAMESPACE": OPERATOR_NS,
        "WAFLEET_METRICS_PORT": str(metrics_port),
        "WAFLEET_HEALTH_PORT": "0",
        "WAFLEET_LOG_LEVEL": "warning",
    }
    exe = Path(sys.executable).with_name("wafleet-operator")
    with log.open("wb") as sink:
        return subprocess.Popen([str(exe)], stdout=sink, stderr=subprocess.STDOUT, env=env)


def _wait_operator_started(operator: subprocess.Popen[bytes], metrics_port: int, log: Path) -> None:
    """Its startup handler serves /metrics after connecting; then kopf starts its watches."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if operator.poll() is not None:
            raise RuntimeError(f"operator exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2):
                time.sleep(2.0)  # the watch requests follow the startup handler
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"operator never served /metrics: {log.read_text()[-2000:]}")


async def _baseline_floor_async(kubeconfig: Path, count: int) -> float:
    """The same objects written by a plain client: the API server's floor for this work.

    It uses the operator's own `Kube` client (server-side apply) with 8 requests
    in flight, creating each account, applying its children and writing a status.
    """
    from session_runner.kube.client import KubeClient
    from session_runner.kube.connection import from_kubeconfig
    from wafleet_operator.api import WhatsAppAccountSpec
    from wafleet_operator.config import OperatorSettings
    from wafleet_operator.kube import Kube
    from wafleet_operator.specs import build_children
    from wafleet_operator.specs.account import AccountRef

    kube = Kube(KubeClient(from_kubeconfig(kubeconfig)), field_manager="bench")
    settings = OperatorSettings()
    limit = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with limit:
            account = _account(f"floor-{i:04d}", i)
            account["metadata"]["namespace"] = FLOOR_NS
            body = await kube.apply(account)
            meta = body["metadata"]
            ref = AccountRef(name=meta["name"], namespace=FLOOR_NS, uid=meta["uid"], generation=1)
            for child in build_children(
                ref, WhatsAppAccountSpec.model_validate(body["spec"]), settings
            ):
                await kube.apply(child)
            await kube.patch_status(
                f"{GROUP}/{VERSION}",
                "WhatsAppAccount",
                FLOOR_NS,
                meta["name"],
                {"phase": "Pending"},
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    await kube.close()
    return elapsed


def _measure(plane: ControlPlane, folder: Path) -> tuple[float, float, float, float]:
    """(converge s, floor s, peak RSS MB, idle RSS MB) on a started control plane."""
    apply_crds(plane, crd_documents())
    kubeconfig = plane.write_kubeconfig(folder / "kubeconfig")
    api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    try:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        custom = client.CustomObjectsApi(api)
        for namespace in (FLOOR_NS, OPERATOR_NS):
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))

        floor = asyncio.run(_baseline_floor_async(kubeconfig, ACCOUNTS))
        _wait_settled(core, apps, FLOOR_NS)

        log, metrics_port = folder / "operator.log", free_port()
        operator = _start_operator(kubeconfig, log, metrics_port)
        try:
            _wait_operator_started(operator, metrics_port, log)
            idle_rss = _peak_rss_mb(operator.pid)
            names = {f"acct-{i:04d}" for i in range(ACCOUNTS)}
            started = time.perf_counter()
            _create_all(custom, ACCOUNTS)
            while not _converged(custom, apps, names):
                if operator.poll() is not None:
                    raise RuntimeError(f"operator exited: {log.read_text()[-2000:]}")
                if time.perf_counter() - started > CONVERGE_LIMIT_S:
                    raise RuntimeError(f"did not converge within {CONVERGE_LIMIT_S:g} s")
                time.sleep(2.0)  # each poll lists 2,000 objects from the same server
            converge = time.perf_counter() - started
            peak = _peak_rss_mb(operator.pid)
        finally:
            operator.terminate()
            try:
                operator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                operator.kill()
                operator.wait(timeout=5)
    finally:
        api.close()
    return converge, floor, peak, idle_rss


def run() -> list[BenchResult]:
    assets = find_assets()
    if isinstance(assets, str):
        raise RuntimeError(f"the operator bench needs a real control plane: {assets}")
    with tempfile.TemporaryDirectory(prefix="wafleet-bench-operator-") as tmp:
        plane = start_control_plane(assets, Path(tmp) / "control-plane")
        try:
            converge, floor, peak, idle_rss = _measure(plane, Path(tmp))
        finally:
            plane.stop()
    return [
        BenchResult(
            "operator",
            "converge_1000_seconds",
            round(converge, 2),
            "s",
            round(floor, 2),
            f"<= {GOAL_SECONDS:g} s",
        ),
        BenchResult(
            "operator",
            "peak_rss_mb",
            round(peak, 1),
            "MB",
            round(idle_rss, 1),
            f"<= {GOAL_RSS_MB:g} MB",
        ),
    ]
