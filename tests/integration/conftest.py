"""The real operator (`wafleet-operator`, kopf) as a subprocess against the real API server.

Each test gets its own namespace (`kube_api.namespace`); `Cluster` defaults
every call to it, and the operator watches only it, so tests never see each
other's accounts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from session_runner.devserver import free_port
from tests.harness.kube import KubeApi

REPO = Path(__file__).resolve().parents[2]
GROUP, VERSION, PLURAL = "wafleet.io", "v1alpha1", "whatsappaccounts"


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll until `predicate` returns something truthy; fail naming `what` (never a timing assertion)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except ApiException as exc:
            if exc.status != 404:
                raise
            last = None
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last seen: {last!r})")


WAFLEET = Path(sys.executable).with_name("wafleet")


def run_wafleet(
    kubeconfig: Path, *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """`wafleet ARGS` as a person runs it, against the cluster `kubeconfig` points at."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "COLUMNS": "200"}
    return subprocess.run(
        [str(WAFLEET), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def runner_report(account: str, phase: str, token: int = 1) -> dict[str, Any]:
    """What the runner in pod ``waa-<account>-0`` writes under ``status.runner``."""
    return {
        "phase": phase,
        "holder": f"waa-{account}-0",
        "fencingToken": token,
        "reportedAt": "2026-11-23T12:00:00Z",
    }


@dataclass
class Cluster:
    """Typed clients for the test's namespace, as a user's tooling would use them."""

    api: client.ApiClient
    namespace: str
    core: client.CoreV1Api = field(init=False)
    apps: client.AppsV1Api = field(init=False)
    rbac: client.RbacAuthorizationV1Api = field(init=False)
    coordination: client.CoordinationV1Api = field(init=False)
    custom: client.CustomObjectsApi = field(init=False)

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.rbac = client.RbacAuthorizationV1Api(self.api)
        self.coordination = client.CoordinationV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)

    def create_account(
        self, name: str, spec: dict[str, Any], namespace: str | None = None, **meta: Any
    ) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "WhatsAppAccount",
            "metadata": {"name": name, **meta},
            "spec": spec,
        }
        return self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace or self.namespace, PLURAL, body
        )  # type: ignore[no-any-return]

    def account(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace or self.namespace, PLURAL, name
        )  # type: ignore[no-any-return]

    def patch_account(
        self, name: str, patch: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace or self.namespace, PLURAL, name, patch
        )  # type: ignore[no-any-return]

    def patch_account_status(
        self, name: str, patch: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object_status(  # type: ignore[no-any-return]
            GROUP, VERSION, namespace or self.namespace, PLURAL, name, patch
        )

    def condition(
        self, name: str, kind: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        status = self.account(name, namespace).get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == kind), None)

    def events_for(self, name: str, namespace: str | None = None) -> list[Any]:
        events = self.core.list_namespaced_event(namespace or self.namespace).items
        return [e for e in events if e.involved_object and e.involved_object.name == name]

    def statefulset(self, name: str, namespace: str | None = None) -> Any:
        return self.apps.read_namespaced_stateful_set(f"waa-{name}", namespace or self.namespace)


@dataclass
class OperatorProcess:
    process: subprocess.Popen[str]
    log_path: Path
    metrics_port: int

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def cluster(kube_api: KubeApi, wafleet_crds: None) -> Iterator[Cluster]:
    """Clients for this test's namespace on the real API server, with wafleet's CRDs installed."""
    api = kube_api.client()
    try:
        yield Cluster(api, kube_api.namespace)
    finally:
        api.close()


@pytest.fixture
def operator_env() -> dict[str, str]:
    """Extra environment for the operator; tests may add to it before `operator` starts."""
    return {}


@pytest.fixture
def wafleet_operator(
    cluster: Cluster, kube_api: KubeApi, tmp_path: Path, operator_env: dict[str, str]
) -> Iterator[OperatorProcess]:
    """`wafleet-operator` started as in a pod, with an admin kubeconfig, watching this test's namespace."""
    log_path = tmp_path / "operator.log"
    metrics_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WAFLEET_")},
        "KUBECONFIG": str(kube_api.kubeconfig),
        "WAFLEET_NAMESPACE": kube_api.namespace,
        "WAFLEET_METRICS_PORT": str(metrics_port),
        "WAFLEET_HEALTH_PORT": str(free_port()),
        "WAFLEET_RUNNER_IMAGE": "wafleet/runner:test",
        "WAFLEET_LOG_LEVEL": "debug",
        **operator_env,
    }
    exe = Path(sys.executable).with_name("wafleet-operator")
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [str(exe)], stdout=log, stderr=subprocess.STDOUT, env=env, text=True
        )
    handle = OperatorProcess(process, log_path, metrics_port)
    try:
        yield handle
    finally:
        print(f"--- operator log (tail) ---\n{handle.logs()[-6000:]}")  # shown for failed tests
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
