"""Lease backends for the shared contract suite: the same tests against every implementation.

`lease_kit` is parametrized over a real kube-apiserver (the session's control
plane: coordination.k8s.io/v1 Leases in the test's own namespace), DynamoDB
on the moto server (both over real HTTP) and the in-memory backend. Each kit
builds backends for lease names and can delete a lease behind the backends'
back (as the operator does when an account goes away).

Faults: a real API server cannot be told to fail, so tests that need 500s,
409s, dropped connections or stalled requests put `tests/faults/proxy.py`'s
`FaultProxy` in front of it (`proxied_kube`). Behind the proxy the runner's
client authenticates as a runner does in its pod: with a ServiceAccount's
TokenRequest token (`lease_writer_token`), so the server's RBAC is real there too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest

from session_runner.kube.client import KubeClient
from session_runner.kube.connection import from_kubeconfig
from session_runner.session.lease.backend import LeaseBackend
from session_runner.session.lease.dynamodb import DynamoDbLeaseBackend, client_config, ensure_table
from session_runner.session.lease.kubernetes import KubernetesLeaseBackend
from session_runner.session.lease.memory import InMemoryLeaseBackend, InMemoryLeaseStore
from tests.faults.proxy import FaultProxy
from tests.faults.rbac import wait_until_allowed
from tests.harness.kube import KubeApi

TABLE = "wafleet-leases-test"
#: The ServiceAccount the proxied tests' runner client acts as.
LEASE_WRITER = "lease-writer"


class LeaseKit(Protocol):
    kind: str

    def backend(self, name: str) -> LeaseBackend: ...

    async def delete(self, name: str) -> None: ...


class KubernetesKit:
    kind = "kubernetes"

    def __init__(self, kube_api: KubeApi, kube: KubeClient) -> None:
        self.kube_api = kube_api  # the test's own view (admin), for setup and inspection
        self.kube = kube  # the runner's client, which the backend under test uses
        self.namespace = kube_api.namespace

    def backend(self, name: str) -> LeaseBackend:
        return KubernetesLeaseBackend(self.kube, self.namespace, name, request_timeout=2.0)

    async def delete(self, name: str) -> None:
        with self.kube_api.http() as http:
            http.delete(
                f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{name}"
            ).raise_for_status()


class DynamoDbKit:
    kind = "dynamodb"

    def __init__(self, client: Any) -> None:
        self.client = client

    def backend(self, name: str) -> LeaseBackend:
        return DynamoDbLeaseBackend(self.client, TABLE, name)

    async def delete(self, name: str) -> None:
        self.client.delete_item(TableName=TABLE, Key={"name": {"S": name}})


class MemoryKit:
    kind = "memory"

    def __init__(self) -> None:
        self.store = InMemoryLeaseStore()

    def backend(self, name: str) -> LeaseBackend:
        return InMemoryLeaseBackend(self.store, name)

    async def delete(self, name: str) -> None:
        self.store.delete(name)


def lease_writer_token(kube_api: KubeApi) -> str:
    """A TokenRequest token of a ServiceAccount that may do anything with this namespace's Leases.

    Wider than a runner's Role (which the operator limits to one Lease, no
    create): the contract suite creates and deletes leases of several names.
    Returns once the server's RBAC actually lets the token read leases (a new
    RoleBinding reaches the authorizer's cache a moment after it is created).
    """
    ns = kube_api.namespace
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    with kube_api.http() as http:
        http.post(
            f"/api/v1/namespaces/{ns}/serviceaccounts", json={"metadata": {"name": LEASE_WRITER}}
        ).raise_for_status()
        http.post(
            f"{rbac}/roles",
            json={
                "metadata": {"name": LEASE_WRITER},
                "rules": [
                    {
                        "apiGroups": ["coordination.k8s.io"],
                        "resources": ["leases"],
                        "verbs": ["get", "list", "create", "update", "patch", "delete"],
                    }
                ],
            },
        ).raise_for_status()
        http.post(
            f"{rbac}/rolebindings",
            json={
                "metadata": {"name": LEASE_WRITER},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": LEASE_WRITER,
                },
                "subjects": [{"kind": "ServiceAccount", "name": LEASE_WRITER, "namespace": ns}],
            },
        ).raise_for_status()
    token = kube_api.token_for(LEASE_WRITER)
    with kube_api.http(token=token) as http:
        wait_until_allowed(http, ns, "coordination.k8s.io", "leases", "patch")
    return token


@pytest.fixture
def fault_proxy(kube_api: KubeApi) -> Iterator[FaultProxy]:
    """A FaultProxy in front of this session's API server (no faults until a test adds some)."""
    proxy = FaultProxy.for_control_plane(kube_api.plane, seed=0)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
async def proxied_kube(
    kube_api: KubeApi, fault_proxy: FaultProxy, tmp_path: Path
) -> AsyncIterator[KubeClient]:
    """The runner's client, through `fault_proxy`, as ServiceAccount `lease-writer`."""
    config = kube_api.kubeconfig_for_server(
        fault_proxy.url, tmp_path / "proxied.kubeconfig", token=lease_writer_token(kube_api)
    )
    client = KubeClient(from_kubeconfig(config))
    try:
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def open_kit(
    kind: str, request: pytest.FixtureRequest, kube: KubeClient | None = None
) -> AsyncIterator[LeaseKit]:
    """The kit for `kind`; for kubernetes, `kube` (e.g. `proxied_kube`) replaces the direct
    admin client the runner side uses by default."""
    if kind == "kubernetes":
        kube_api: KubeApi = request.getfixturevalue("kube_api")
        if kube is not None:
            yield KubernetesKit(kube_api, kube)
            return
        direct = KubeClient(from_kubeconfig(kube_api.kubeconfig))
        try:
            yield KubernetesKit(kube_api, direct)
        finally:
            await direct.close()
    elif kind == "dynamodb":
        lease_client = _lease_client(request.getfixturevalue("aws"))
        ensure_table(lease_client, TABLE)
        yield DynamoDbKit(lease_client)
    else:
        yield MemoryKit()


@pytest.fixture(params=["kubernetes", "dynamodb", "memory"])
async def lease_kit(request: pytest.FixtureRequest) -> AsyncIterator[LeaseKit]:
    """Every backend, including the in-memory one (which is held to the same contract)."""
    async with open_kit(request.param, request) as kit:
        yield kit


@pytest.fixture(params=["kubernetes", "dynamodb"])
async def real_kit(request: pytest.FixtureRequest) -> AsyncIterator[LeaseKit]:
    """The backends reached over real HTTP."""
    async with open_kit(request.param, request) as kit:
        yield kit


def _lease_client(aws: Any) -> Any:
    """A DynamoDB client configured as production builds it (no retries, short timeouts)."""
    import boto3

    return boto3.client("dynamodb", config=client_config(2.0), **aws.server.client_kwargs())
