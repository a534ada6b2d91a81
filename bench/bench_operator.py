"""`make bench ONLY=operator`: the real operator converging 1,000 accounts against the API emulator.

Metrics (issue: operator):
- converge_1000_seconds: from the first account created until every account has
  its StatefulSet and a written status. Baseline, measured in the same run: a
  plain client creating the same 6,000 children and 1,000 status writes directly,
  so the ratio says what kopf and our reconcile add over the API floor.
- peak_rss_mb: the operator process's peak resident set (VmHWM). Baseline: the
  same process started with no accounts (kopf, both clients, our code).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client, config

from bench.result import BenchResult
from session_runner.devserver import free_port
from tests.harness.kube_emulator import KubeEmulator

REPO = Path(__file__).resolve().parents[1]
ACCOUNTS = int(os.environ.get("WAFLEET_BENCH_ACCOUNTS", "1000"))
GOAL_SECONDS, GOAL_RSS_MB = 60.0, 150.0


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _account(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "wafleet.io/v1alpha1",
        "kind": "WhatsAppAccount",
        "metadata": {"name": f"acct-{i:04d}"},
        "spec": {"phoneNumber": f"+1415555{i:04d}", "engine": "local"},
    }


def _create_all(custom: client.CustomObjectsApi, offset: int, count: int) -> None:
    def create(i: int) -> None:
        custom.create_namespaced_custom_object(
            "wafleet.io", "v1alpha1", "default", "whatsappaccounts", _account(offset + i)
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(create, range(count)))


def _accounts(custom: client.CustomObjectsApi) -> list[dict[str, Any]]:
    listing = custom.list_namespaced_custom_object(
        "wafleet.io", "v1alpha1", "default", "whatsappaccounts"
    )
    return list(cast(dict[str, Any], listing)["items"])


def _converged(custom: client.CustomObjectsApi, apps: client.AppsV1Api, names: set[str]) -> bool:
    items = _accounts(custom)
    with_status = {i["metadata"]["name"] for i in items if (i.get("status") or {}).get("phase")}
    sts = {
        str(s.metadata.name if s.metadata else "").removeprefix("waa-")
        for s in apps.list_namespaced_stateful_set("default").items
    }
    return names <= with_status and names <= sts


def _start_operator(kubeconfig: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WAFLEET_")},
        "KUBECONFIG": str(kubeconfig),
        "WAFLEET_METRICS_PORT": str(free_port()),
        "WAFLEET_HEALTH_PORT": "0",
        "WAFLEET_LOG_LEVEL": "warning",
    }
    exe = Path(sys.executable).with_name("wafleet-operator")
    with log.open("wb") as sink:
        return subprocess.Popen([str(exe)], stdout=sink, stderr=subprocess.STDOUT, env=env)


async def _baseline_floor_async(kubeconfig: Path, count: int) -> float:
    """The same objects written by a plain client: the API emulator's floor for this work.

    It uses the operator's own `Kube` client (server-side apply) with 8 requests
    in flight, creating each account, applying its children and writing a status.
    """
    from kubernetes_asyncio import client as aclient
    from kubernetes_asyncio import config as aconfig

    from wafleet_operator.api import WhatsAppAccountSpec
    from wafleet_operator.config import OperatorSettings
    from wafleet_operator.kube import Kube
    from wafleet_operator.specs import build_children
    from wafleet_operator.specs.account import AccountRef

    configuration = aclient.Configuration()
    await aconfig.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    kube = Kube(aclient.ApiClient(configuration), field_manager="bench")
    settings = OperatorSettings()
    limit = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with limit:
            body = await kube.apply(
                _account(100_000 + i)
                | {"metadata": {"name": f"floor-{i:04d}", "namespace": "default"}}
            )
            meta = body["metadata"]
            ref = AccountRef(name=meta["name"], namespace="default", uid=meta["uid"], generation=1)
            for child in build_children(
                ref, WhatsAppAccountSpec.model_validate(body["spec"]), settings
            ):
                await kube.apply(child)
            await kube.patch_status(
                "wafleet.io/v1alpha1",
                "WhatsAppAccount",
                "default",
                meta["name"],
                {"phase": "Pending"},
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    await kube.close()
    return elapsed


def run() -> list[BenchResult]:
    with tempfile.TemporaryDirectory() as tmp:
        emulator = KubeEmulator().start()
        kubeconfig = emulator.write_kubeconfig(Path(tmp) / "kubeconfig")
        for crd_file in sorted((REPO / "crds").glob("*.yaml")):
            emulator.register_crd(yaml.safe_load(crd_file.read_text()))
        api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        custom, apps = client.CustomObjectsApi(api), client.AppsV1Api(api)

        floor = asyncio.run(_baseline_floor_async(kubeconfig, ACCOUNTS))
        for item in _accounts(custom):
            custom.delete_namespaced_custom_object(
                "wafleet.io", "v1alpha1", "default", "whatsappaccounts", item["metadata"]["name"]
            )

        operator = _start_operator(kubeconfig, Path(tmp) / "operator.log")
        try:
            time.sleep(3)  # let kopf start its watches before the flood
            idle_rss = _peak_rss_mb(operator.pid)
            names = {f"acct-{i:04d}" for i in range(ACCOUNTS)}
            started = time.perf_counter()
            _create_all(custom, 0, ACCOUNTS)
            while not _converged(custom, apps, names):
                if operator.poll() is not None:
                    raise RuntimeError(
                        f"operator exited: {(Path(tmp) / 'operator.log').read_text()[-2000:]}"
                    )
                if time.perf_counter() - started > 600:
                    raise RuntimeError("did not converge within 600 s")
                time.sleep(2.0)  # each poll lists 2,000 objects from the same emulator
            converge = time.perf_counter() - started
            peak = _peak_rss_mb(operator.pid)
        finally:
            operator.terminate()
            operator.wait(timeout=30)
        api.close()
        emulator.stop()
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
