"""Lease backends for the shared contract suite: the same tests against every implementation.

`lease_kit` is parametrized over the Kubernetes API emulator, DynamoDB on the
moto server (both over real HTTP) and the in-memory backend. Each kit builds
backends for lease names and can delete a lease behind the backends' back
(as the operator does when an account goes away).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import pytest

from session_runner.kube.client import KubeClient
from session_runner.kube.connection import from_kubeconfig
from session_runner.lease.backend import LeaseBackend
from session_runner.lease.dynamodb import DynamoDbLeaseBackend, client_config, ensure_table
from session_runner.lease.kubernetes import KubernetesLeaseBackend
from session_runner.lease.memory import InMemoryLeaseBackend, InMemoryLeaseStore

NAMESPACE = "default"
TABLE = "wafleet-leases-test"


class LeaseKit(Protocol):
    kind: str

    def backend(self, name: str) -> LeaseBackend: ...

    async def delete(self, name: str) -> None: ...


class KubernetesKit:
    kind = "kubernetes"

    def __init__(self, api_client: Any, kube: KubeClient) -> None:
        self.api_client = api_client  # the test's own client, for setup and inspection
        self.kube = kube  # the runner's client, which the backend under test uses

    def backend(self, name: str) -> LeaseBackend:
        return KubernetesLeaseBackend(self.kube, NAMESPACE, name, request_timeout=2.0)

    async def delete(self, name: str) -> None:
        from kubernetes_asyncio.client import CoordinationV1Api

        await CoordinationV1Api(self.api_client).delete_namespaced_lease(name, NAMESPACE)


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


@asynccontextmanager
async def open_kit(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[LeaseKit]:
    if kind == "kubernetes":
        kube_api = request.getfixturevalue("kube_api")
        api_client = await kube_api.async_client()
        kube = KubeClient(from_kubeconfig(kube_api.kubeconfig))
        try:
            yield KubernetesKit(api_client, kube)
        finally:
            await kube.close()
            await api_client.close()
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
