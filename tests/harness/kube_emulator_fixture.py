"""pytest fixtures for the Kubernetes API: an in-process emulator over real HTTP.

Each test that asks for `kube_api` gets a fresh, empty API server (only the
namespaces default, kube-system, kube-public and kube-node-lease exist) on
127.0.0.1, started in a few milliseconds, and a kubeconfig pointing at it
(context "emulator", token auth). Production code, kopf, the kubernetes
clients and kubectl reach it exactly as they would reach a cluster.

    def test_something(kube_api: EmulatorApi) -> None:
        kube_api.register_crd(yaml.safe_load(Path("crds/x.yaml").read_text()))
        core = kubernetes.client.CoreV1Api(kube_api.client())
        ...
        kube_api.faults.inject(method="PUT", path=r"/leases/", status=409)
        subprocess.run([...], env=kube_api.env())

What the emulator does and does not reproduce is documented per module in
tests/harness/kube_emulator/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.kube_emulator import (
    CONTEXT,
    TOKEN,
    EmulatorSettings,
    Faults,
    KubeEmulator,
    ObjectStore,
    RequestRecord,
)

# Short, so tests that wait for a BOOKMARK do not wait long.
TEST_BOOKMARK_INTERVAL = 0.2


@dataclass(frozen=True)
class EmulatorApi:
    """The running emulator as tests see it."""

    emulator: KubeEmulator
    kubeconfig: Path

    @property
    def url(self) -> str:
        return self.emulator.url

    @property
    def store(self) -> ObjectStore:
        """The object store, for white-box assertions (`store.peek(...)`, `store.compact()`)."""
        return self.emulator.store

    @property
    def faults(self) -> Faults:
        """Fault injection (`faults.inject(method=, path=, status=|drop=, delay=, times=)`)."""
        return self.emulator.faults

    @property
    def settings(self) -> EmulatorSettings:
        return self.emulator.settings

    @property
    def requests(self) -> list[RequestRecord]:
        return self.emulator.requests

    def register_crd(self, crd: dict[str, Any]) -> dict[str, Any]:
        """Same effect as POSTing the CustomResourceDefinition; returns it Established."""
        return self.emulator.register_crd(crd)

    def env(self) -> dict[str, str]:
        """os.environ plus KUBECONFIG for a subprocess (kopf, kubectl, the runner)."""
        cache = self.kubeconfig.parent / "kube-cache"  # kubectl's discovery cache, per test
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(cache)}

    def http(self) -> httpx.Client:
        """A raw HTTP client for the server (status codes and bodies exactly as sent)."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )

    def client(self) -> Any:
        """A `kubernetes.client.ApiClient` configured from the kubeconfig."""
        import kubernetes

        new_client: Any = kubernetes.config.new_client_from_config  # untyped in the package
        return new_client(config_file=str(self.kubeconfig), context=CONTEXT)

    async def async_client(self) -> Any:
        """A `kubernetes_asyncio.client.ApiClient` configured from the kubeconfig (close it after use)."""
        import kubernetes_asyncio

        return await kubernetes_asyncio.config.new_client_from_config(
            config_file=str(self.kubeconfig), context=CONTEXT
        )


@pytest.fixture
def kube_emulator(tmp_path: Path) -> Iterator[EmulatorApi]:
    """A fresh Kubernetes API emulator for this test; stopped afterwards."""
    emulator = KubeEmulator(settings=EmulatorSettings(bookmark_interval=TEST_BOOKMARK_INTERVAL))
    emulator.start()
    try:
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
        yield EmulatorApi(emulator, kubeconfig)
    finally:
        emulator.stop()
