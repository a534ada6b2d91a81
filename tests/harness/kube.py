"""pytest fixtures for the Kubernetes API: a real control plane, one per test session.

`control_plane` starts etcd, kube-apiserver, kube-controller-manager and
kube-scheduler once (about 3 s here); every test that asks for `kube_api`
gets its own namespace in it and an admin kubeconfig whose context defaults
to that namespace, so kubectl, the CLI and the clients all land there.

    def test_something(kube_api: KubeApi, wafleet_crds: None) -> None:
        core = kubernetes.client.CoreV1Api(kube_api.client())
        core.read_namespace(kube_api.namespace)
        token = kube_api.token_for("waa-demo")          # TokenRequest: that SA's RBAC only
        subprocess.run([...], env=kube_api.env())

Without the binaries (no KUBEBUILDER_ASSETS, no ../shared/kube, no etcd) the
tests that need it skip, saying why; under CI=true that is a failure instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.harness.control_plane import (
    ADMIN_CONTEXT,
    ControlPlane,
    find_assets,
    start_control_plane,
)
from tests.harness.control_plane.kubelet import Kubelet, StandInNode
from tests.harness.secret_scan import describe, find_leaks, secret_forms

REPO = Path(__file__).resolve().parents[2]
CRD_GROUP = "wafleet.io"


def _require_control_plane_assets() -> Any:
    assets = find_assets()
    if isinstance(assets, str):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs a real control plane: {assets}", pytrace=False)
        pytest.skip(f"no real Kubernetes control plane: {assets}")
    return assets


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + controller manager + scheduler, for the whole session."""
    assets = _require_control_plane_assets()
    plane = start_control_plane(assets, tmp_path_factory.mktemp("control-plane"))
    try:
        yield plane
    finally:
        plane.stop()


@dataclass(frozen=True)
class KubeApi:
    """The control plane as one test sees it: its namespace and an admin kubeconfig into it.

    `known_secrets` and `log_files` feed the secret scan run when the namespace is
    released (see `scan_for_secrets`): fixtures that start processes register their
    logs, and a test that deletes a Secret registers its values first.
    """

    plane: ControlPlane
    namespace: str
    kubeconfig: Path
    known_secrets: dict[str, bytes] = field(default_factory=dict)
    log_files: dict[str, Path] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.plane.url

    def env(self, kubeconfig: Path | None = None) -> dict[str, str]:
        """os.environ plus KUBECONFIG for a subprocess (kopf, kubectl, helm, the runner)."""
        config = kubeconfig or self.kubeconfig
        cache = config.parent / "kube-cache"  # kubectl's discovery cache, per test
        return {**os.environ, "KUBECONFIG": str(config), "KUBECACHEDIR": str(cache)}

    def ssl_context(self) -> ssl.SSLContext:
        return self.plane.ssl_context()

    def http(self, token: str | None = None) -> httpx.Client:
        """A raw HTTP client: as the admin, or with `token` (a ServiceAccount's) instead."""
        assert self.plane.pki is not None
        if token:
            return httpx.Client(
                base_url=self.url,
                verify=ssl.create_default_context(cafile=str(self.plane.pki.ca_cert)),
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
        return httpx.Client(base_url=self.url, verify=self.ssl_context(), timeout=10)

    def client(self, kubeconfig: Path | None = None) -> Any:
        """A `kubernetes.client.ApiClient` configured from the kubeconfig."""
        import kubernetes

        new_client: Any = kubernetes.config.new_client_from_config  # untyped in the package
        return new_client(config_file=str(kubeconfig or self.kubeconfig), context=ADMIN_CONTEXT)

    async def async_client(self, kubeconfig: Path | None = None) -> Any:
        """A `kubernetes_asyncio.client.ApiClient` configured from the kubeconfig (close it)."""
        import kubernetes_asyncio

        return await kubernetes_asyncio.config.new_client_from_config(
            config_file=str(kubeconfig or self.kubeconfig), context=ADMIN_CONTEXT
        )

    def token_for(
        self, service_account: str, namespace: str | None = None, seconds: int = 3600
    ) -> str:
        """A TokenRequest token: exactly `service_account`'s RBAC, as its pod would have."""
        return self.plane.token_for(namespace or self.namespace, service_account, seconds=seconds)

    def kubeconfig_for_token(self, token: str, path: Path) -> Path:
        """A kubeconfig that authenticates with `token` (no client certificate)."""
        return self.plane.write_kubeconfig(path, namespace=self.namespace, token=token)

    def kubeconfig_for_server(self, server: str, path: Path, token: str | None = None) -> Path:
        """A kubeconfig pointing at `server` (a fault proxy in front of the API server)."""
        return self.plane.write_kubeconfig(
            path, namespace=self.namespace, token=token, server=server
        )


def namespace_for(node_name: str) -> str:
    """A DNS-1123 namespace name from the test's name, unique across the session."""
    base = re.sub(r"[^a-z0-9-]+", "-", node_name.lower()).strip("-")[:40].strip("-")
    return f"t-{base}-{time.monotonic_ns() % 1_000_000:06d}"


@pytest.fixture
def kube_api(
    control_plane: ControlPlane, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[KubeApi]:
    """This test's namespace in the session's control plane; deleted afterwards."""
    control_plane.check_alive()
    namespace = namespace_for(request.node.name)
    api = KubeApi(control_plane, namespace, tmp_path / "kubeconfig")
    control_plane.write_kubeconfig(api.kubeconfig, namespace=namespace)
    with api.http() as http:
        http.post("/api/v1/namespaces", json={"metadata": {"name": namespace}}).raise_for_status()
    try:
        yield api
        scan_for_secrets(api)
    finally:
        _release_namespace(api)


#: Namespaced objects whose every field is searched for secret values (never Secrets).
SCANNED_PATHS = (
    "/api/v1/namespaces/{ns}/events",
    "/api/v1/namespaces/{ns}/pods",
    "/api/v1/namespaces/{ns}/configmaps",
    "/apis/apps/v1/namespaces/{ns}/statefulsets",
    "/apis/apps/v1/namespaces/{ns}/deployments",
    "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
    *(
        f"/apis/{CRD_GROUP}/v1alpha1/namespaces/{{ns}}/{plural}"
        for plural in ("whatsappaccounts", "senderpools", "webhooksubscriptions")
    ),
)


def scan_for_secrets(api: KubeApi) -> None:
    """Fail the test if any Secret value of its namespace appears where it must not.

    Looked for: the values of every Secret still in the namespace plus
    `api.known_secrets`. Looked in: Events, pods, StatefulSets, the wafleet objects
    (status included), Leases, ConfigMaps, and every registered log file (the
    operator's, the runners' containers'). See `secret_scan` for the forms searched.
    """
    import base64

    secrets = dict(api.known_secrets)
    texts: dict[str, str] = {}
    with api.http() as http:
        listing = http.get(f"/api/v1/namespaces/{api.namespace}/secrets")
        for item in listing.json().get("items", []) if listing.status_code == 200 else []:
            for key, value in (item.get("data") or {}).items():
                secrets[f"{item['metadata']['name']}/{key}"] = base64.b64decode(value)
        if not any(secret_forms(value) for value in secrets.values()):
            return
        for path in SCANNED_PATHS:
            answer = http.get(path.format(ns=api.namespace))
            if answer.status_code == 200:
                texts[path.format(ns=api.namespace)] = answer.text
    for where, log_file in api.log_files.items():
        if log_file.exists():
            texts[where] = log_file.read_text(encoding="utf-8", errors="replace")
    leaks = find_leaks(secrets, texts)
    assert not leaks, "secret values leaked:\n" + describe(leaks)


def _release_namespace(api: KubeApi) -> None:
    """Delete the namespace without waiting; first drop wafleet finalizers no operator will run."""
    with api.http() as http:
        for plural in ("whatsappaccounts", "senderpools", "webhooksubscriptions"):
            listing = http.get(f"/apis/{CRD_GROUP}/v1alpha1/namespaces/{api.namespace}/{plural}")
            if listing.status_code != 200:
                continue
            for item in listing.json().get("items", []):
                if item["metadata"].get("finalizers"):
                    with contextlib.suppress(httpx.HTTPError):
                        http.patch(
                            f"/apis/{CRD_GROUP}/v1alpha1/namespaces/{api.namespace}/{plural}/"
                            f"{item['metadata']['name']}",
                            json={"metadata": {"finalizers": None}},
                            headers={"Content-Type": "application/merge-patch+json"},
                        )
        http.delete(f"/api/v1/namespaces/{api.namespace}")


def crd_documents() -> list[dict[str, Any]]:
    """The generated CRDs in crds/, as the API server receives them."""
    return [
        yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted((REPO / "crds").glob("*.yaml"))
    ]


def apply_crds(plane: ControlPlane, documents: list[dict[str, Any]], timeout: float = 30.0) -> None:
    """Create or replace each CRD and wait until the server says it is Established."""
    with httpx.Client(base_url=plane.url, verify=plane.ssl_context(), timeout=10) as http:
        base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        for crd in documents:
            name = crd["metadata"]["name"]
            answer = http.post(base, json=crd)
            if answer.status_code == 409:
                current = http.get(f"{base}/{name}").json()
                body = {
                    **crd,
                    "metadata": {
                        **crd["metadata"],
                        "resourceVersion": current["metadata"]["resourceVersion"],
                    },
                }
                answer = http.put(f"{base}/{name}", json=body)
            if answer.status_code >= 300:
                raise AssertionError(f"CRD {name} rejected: {answer.text}")
        deadline = time.monotonic() + timeout
        for crd in documents:
            name = crd["metadata"]["name"]
            while True:
                status = http.get(f"{base}/{name}").json().get("status") or {}
                conditions = status.get("conditions") or []
                if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"CRD {name} not Established: {conditions}")
                time.sleep(0.1)


@pytest.fixture(scope="session")
def wafleet_crds(control_plane: ControlPlane) -> None:
    """crds/ applied once per session, Established."""
    apply_crds(control_plane, crd_documents())


@pytest.fixture(scope="session")
def stand_in_node(control_plane: ControlPlane) -> Iterator[StandInNode]:
    """The Node pods are scheduled to, heartbeating for the whole session."""
    node = StandInNode(control_plane).start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def kubelet(kube_api: KubeApi, stand_in_node: StandInNode, tmp_path: Path) -> Iterator[Kubelet]:
    """Runs this test's pods (see control_plane/kubelet.py); `kubelet.image_env` is the image's ENV."""
    stand_in = Kubelet(kube_api.plane, kube_api.namespace, tmp_path / "kubelet").start()
    try:
        yield stand_in
    finally:
        stand_in.stop()
        for proc in [*stand_in.pods.values(), *stand_in.duplicates]:
            kube_api.log_files[f"{proc.pod} container log ({proc.log_path.parent.name})"] = (
                proc.log_path
            )
        for error in stand_in.errors[-5:]:
            print(f"--- kubelet stand-in error: {error}")
        for proc in [*stand_in.pods.values(), *stand_in.duplicates]:
            print(f"--- {proc.pod} container log (tail) ---\n{proc.logs()[-4000:]}")
