"""`make bench ONLY=kube-clients`: what each Kubernetes client costs a process in memory.

Issue 14 asked for one Kubernetes client for the operator and the runner, chosen
by measurement: the runner's PSS goal is <= 80 MB, and kubernetes_asyncio once
cost it ~37 MB, which is why the runner has its own small aiohttp client
(session_runner/kube). Candidates, each in a fresh interpreter:

- floor: asyncio + aiohttp + yaml imported, no client (what the runner loads
  anyway; the other figures are read against it);
- aiohttp: wafleet's own client (`session_runner.kube.KubeClient`);
- kubernetes_asyncio: the generated client (typed Lease read, custom-object
  status patch), as the operator used it until issue 14;
- lightkube: its AsyncClient (httpx), with a generic resource for the CR.
  Only when importable: it is not a wafleet dependency; point
  WAFLEET_LIGHTKUBE_PATH at a `pip install --target` folder to measure it.

Each child loads the admin kubeconfig (client certificate), does 50 GETs of a
Lease and 50 merge patches of a custom resource's status against a real
kube-apiserver (the test harness's control plane), then reports its own PSS
and RSS from /proc/self/smaps_rollup. Median of RUNS (3) children each.

Metrics: kube_client_<name>_pss_mb and _rss_mb; baseline is the floor's figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.result import BenchResult, median

RUNS = int(os.environ.get("WAFLEET_BENCH_KUBE_CLIENT_RUNS", "3"))
CALLS = 50
NAMESPACE = "kube-clients-bench"
LEASE = "bench-lease"
CR_GROUP, CR_VERSION, CR_PLURAL, CR_KIND = "bench.wafleet.io", "v1", "widgets", "Widget"
CR_NAME = "bench-widget"
CLIENTS = ("floor", "aiohttp", "kubernetes_asyncio", "lightkube")

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{CR_PLURAL}.{CR_GROUP}"},
    "spec": {
        "group": CR_GROUP,
        "scope": "Namespaced",
        "names": {"plural": CR_PLURAL, "singular": "widget", "kind": CR_KIND},
        "versions": [
            {
                "name": CR_VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def memory_mb() -> tuple[float, float]:
    """(PSS, RSS) of this process in MB, from /proc/self/smaps_rollup."""
    values: dict[str, int] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Pss", "Rss"):
            values[key] = int(rest.split()[0])
    return values["Pss"] / 1024, values["Rss"] / 1024


# -- the children: one client each ---------------------------------------------------


async def _with_aiohttp(kubeconfig: Path, namespace: str) -> None:
    from session_runner.kube.client import MERGE_PATCH, KubeClient
    from session_runner.kube.connection import from_kubeconfig

    async with KubeClient(from_kubeconfig(kubeconfig)) as kube:
        lease = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}"
        cr = f"/apis/{CR_GROUP}/{CR_VERSION}/namespaces/{namespace}/{CR_PLURAL}/{CR_NAME}/status"
        for _ in range(CALLS):
            await kube.request("GET", lease)
        for i in range(CALLS):
            await kube.request("PATCH", cr, {"status": {"n": i}}, content_type=MERGE_PATCH)


async def _with_kubernetes_asyncio(kubeconfig: Path, namespace: str) -> None:
    from kubernetes_asyncio import client, config

    api = await config.new_client_from_config(config_file=str(kubeconfig))
    try:
        leases, custom = client.CoordinationV1Api(api), client.CustomObjectsApi(api)
        for _ in range(CALLS):
            await leases.read_namespaced_lease(LEASE, namespace)
        for i in range(CALLS):
            await custom.patch_namespaced_custom_object_status(
                CR_GROUP,
                CR_VERSION,
                namespace,
                CR_PLURAL,
                CR_NAME,
                {"status": {"n": i}},
                # accepted through **kwargs; its signature does not name it
                _content_type="application/merge-patch+json",  # type: ignore[call-arg]
            )
    finally:
        await api.close()


async def _with_lightkube(kubeconfig: Path, namespace: str) -> None:
    from lightkube import AsyncClient, KubeConfig
    from lightkube.generic_resource import create_namespaced_resource
    from lightkube.resources.coordination_v1 import Lease
    from lightkube.types import PatchType

    widget = create_namespaced_resource(CR_GROUP, CR_VERSION, CR_KIND, CR_PLURAL)
    kube = AsyncClient(config=KubeConfig.from_file(kubeconfig), namespace=namespace)
    try:
        for _ in range(CALLS):
            await kube.get(Lease, LEASE, namespace=namespace)
        for i in range(CALLS):
            await kube.patch(
                widget.Status,
                CR_NAME,
                {"status": {"n": i}},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
    finally:
        await kube.close()


async def _floor(kubeconfig: Path, namespace: str) -> None:
    import aiohttp
    import yaml

    del kubeconfig, namespace  # the floor makes no calls
    assert aiohttp.ClientSession is not None
    assert yaml.safe_load is not None


CHILDREN = {
    "floor": _floor,
    "aiohttp": _with_aiohttp,
    "kubernetes_asyncio": _with_kubernetes_asyncio,
    "lightkube": _with_lightkube,
}


def child(name: str, kubeconfig: Path, namespace: str) -> None:
    """Run one client's calls, then print {"pss_mb", "rss_mb"} as one JSON line."""
    asyncio.run(CHILDREN[name](kubeconfig, namespace))
    pss, rss = memory_mb()
    print(json.dumps({"pss_mb": round(pss, 1), "rss_mb": round(rss, 1)}))


# -- the parent: a control plane, the objects, RUNS children per client ---------------


def _prepare(plane: Any) -> None:
    with plane_http(plane) as http:
        http.post("/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}}).raise_for_status()
        lease = {"metadata": {"name": LEASE}, "spec": {"holderIdentity": "bench"}}
        http.post(
            f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases", json=lease
        ).raise_for_status()
        http.post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=CRD
        ).raise_for_status()
        cr = {"apiVersion": f"{CR_GROUP}/{CR_VERSION}", "kind": CR_KIND}
        path = f"/apis/{CR_GROUP}/{CR_VERSION}/namespaces/{NAMESPACE}/{CR_PLURAL}"
        for _ in range(100):  # the CRD's URL is served a moment after it is created
            answer = http.post(path, json={**cr, "metadata": {"name": CR_NAME}})
            if answer.status_code != 404:
                answer.raise_for_status()
                return
            time.sleep(0.1)
        raise RuntimeError("the bench CRD was never served")


def plane_http(plane: Any) -> Any:
    import httpx

    return httpx.Client(base_url=plane.url, verify=plane.ssl_context(), timeout=10)


def _lightkube_env() -> dict[str, str] | None:
    """The environment a lightkube child needs, or None when lightkube is not importable."""
    env = dict(os.environ)
    extra = os.environ.get("WAFLEET_LIGHTKUBE_PATH")
    if extra:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra, env.get("PYTHONPATH")]))
    probe = subprocess.run(
        [sys.executable, "-c", "import lightkube"], env=env, capture_output=True, check=False
    )
    return env if probe.returncode == 0 else None


def run() -> list[BenchResult]:
    from tests.harness.control_plane import find_assets, start_control_plane

    assets = find_assets()
    if isinstance(assets, str):
        raise RuntimeError(f"no control plane: {assets}")
    with tempfile.TemporaryDirectory(prefix="wafleet-kube-clients-") as scratch:
        plane = start_control_plane(assets, Path(scratch) / "plane")
        try:
            _prepare(plane)
            kubeconfig = plane.write_kubeconfig(Path(scratch) / "kubeconfig", namespace=NAMESPACE)
            figures = _measure(kubeconfig)
        finally:
            plane.stop()
    floor = figures["floor"]
    results = []
    for name, (pss, rss) in figures.items():
        goal = "<= 80 MB (runner PSS)" if name != "floor" else None
        results.append(
            BenchResult("kube-clients", f"kube_client_{name}_pss_mb", pss, "MB", floor[0], goal)
        )
        results.append(
            BenchResult("kube-clients", f"kube_client_{name}_rss_mb", rss, "MB", floor[1])
        )
    return results


def _measure(kubeconfig: Path) -> dict[str, tuple[float, float]]:
    figures: dict[str, tuple[float, float]] = {}
    for name in CLIENTS:
        env = _lightkube_env() if name == "lightkube" else dict(os.environ)
        if env is None:
            print("# lightkube not importable: skipped", file=sys.stderr)
            continue
        samples = []
        for _ in range(RUNS):
            out = subprocess.run(
                [sys.executable, "-m", "bench.bench_kube_clients", name, str(kubeconfig)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
        figures[name] = (
            median([s["pss_mb"] for s in samples]),
            median([s["rss_mb"] for s in samples]),
        )
        print(f"# {name}: {samples}", file=sys.stderr, flush=True)
    return figures


if __name__ == "__main__":
    child(sys.argv[1], Path(sys.argv[2]), NAMESPACE)
