"""Kubernetes specifics on a real kube-apiserver: the operator-created Lease, the wire format
the server stores, and API failures as the backend contract's errors (faults from a
FaultProxy in front of the server, the client authenticated with a ServiceAccount token)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes_asyncio.client import CoordinationV1Api

from session_runner.kube.client import KubeClient
from session_runner.kube.connection import Connection, from_kubeconfig
from session_runner.session.lease.decision import next_record_for_acquire
from session_runner.session.lease.kubernetes import KubernetesLeaseBackend
from session_runner.session.lease.record import (
    LeaseBackendError,
    LeaseConflict,
    LeaseRecord,
    LeaseTimings,
)
from tests.faults.proxy import FaultKind, FaultProxy, Window
from tests.harness.kube import KubeApi

NAME = "waa-alice"
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def api_client(kube_api: KubeApi) -> AsyncIterator[Any]:
    client = await kube_api.async_client()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def kube(kube_api: KubeApi) -> AsyncIterator[KubeClient]:
    """The runner's own client, which the backend under test uses."""
    client = KubeClient(from_kubeconfig(kube_api.kubeconfig))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def backend(kube: KubeClient, kube_api: KubeApi) -> KubernetesLeaseBackend:
    return KubernetesLeaseBackend(kube, kube_api.namespace, NAME, request_timeout=1.0)


@pytest.fixture
def proxied(proxied_kube: KubeClient, kube_api: KubeApi) -> KubernetesLeaseBackend:
    """The same Lease through the fault proxy, as ServiceAccount lease-writer."""
    return KubernetesLeaseBackend(proxied_kube, kube_api.namespace, NAME, request_timeout=1.0)


def lease_path(kube_api: KubeApi) -> str:
    return f"/apis/coordination.k8s.io/v1/namespaces/{kube_api.namespace}/leases/{NAME}"


async def operator_creates_lease(api_client: Any, namespace: str) -> None:
    """The Lease as the operator creates it: a duration and an owner, no holder yet."""
    body: Any = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": NAME, "labels": {"app.kubernetes.io/managed-by": "wafleet"}},
        "spec": {"leaseDurationSeconds": 15},
    }
    await CoordinationV1Api(api_client).create_namespaced_lease(namespace, body)


async def test_claiming_the_operators_lease_keeps_its_metadata(
    backend: KubernetesLeaseBackend, api_client: Any, kube_api: KubeApi
) -> None:
    await operator_creates_lease(api_client, kube_api.namespace)
    current = await backend.get()
    assert current is not None
    assert current.holder is None
    assert current.lease_duration_s == 15.0
    assert current.transitions == 0
    claim = next_record_for_acquire("pod-0_abcd1234", current, WHEN, LeaseTimings())
    won = await backend.update(claim)
    assert won.holder == "pod-0_abcd1234"
    assert won.transitions == 1

    raw = await CoordinationV1Api(api_client).read_namespaced_lease(NAME, kube_api.namespace)
    assert raw.metadata.labels == {"app.kubernetes.io/managed-by": "wafleet"}
    assert raw.spec.holder_identity == "pod-0_abcd1234"
    assert raw.spec.lease_transitions == 1
    assert raw.spec.lease_duration_seconds == 15


async def test_wire_format_is_micro_time_and_whole_seconds(
    backend: KubernetesLeaseBackend, kube_api: KubeApi
) -> None:
    await backend.create(LeaseRecord("a", 1.5, acquire_time=WHEN, renew_time=WHEN, transitions=0))
    with kube_api.http() as http:
        spec = http.get(lease_path(kube_api)).json()["spec"]
    assert spec["renewTime"] == "2024-05-01T12:00:00.000000Z"
    assert spec["acquireTime"] == "2024-05-01T12:00:00.000000Z"
    assert spec["leaseDurationSeconds"] == 2  # rounded up, never shorter than ours


async def test_release_removes_the_holder_field(
    backend: KubernetesLeaseBackend, kube_api: KubeApi
) -> None:
    created = await backend.create(LeaseRecord("a", 15.0, WHEN, WHEN))
    await backend.update(replace(created, holder=None, acquire_time=None))
    with kube_api.http() as http:
        spec = http.get(lease_path(kube_api)).json()["spec"]
    assert "holderIdentity" not in spec
    assert "acquireTime" not in spec


def always(kind: FaultKind, method: str, **options: Any) -> Window:
    """A proxy window hitting every `method` request to the Lease from now on."""
    return Window(kind, 0.0, float("inf"), method=method, path=rf"/leases/{NAME}$", **options)


@pytest.mark.parametrize(
    ("kind", "options", "error"),
    [
        ("status500", {}, LeaseBackendError),
        ("status", {"status": 503}, LeaseBackendError),
        ("status", {"status": 504}, LeaseBackendError),
        ("status", {"status": 429}, LeaseBackendError),
        ("drop_request", {}, LeaseBackendError),
        ("drop_response", {}, LeaseBackendError),  # the write landed; the answer is lost
        ("timeout", {"delay": 3.0}, LeaseBackendError),  # beyond the 1 s request timeout
        ("conflict", {}, LeaseConflict),
    ],
)
async def test_write_failures_map_to_contract_errors(
    proxied: KubernetesLeaseBackend,
    fault_proxy: FaultProxy,
    kind: FaultKind,
    options: dict[str, Any],
    error: type,
) -> None:
    created = await proxied.create(LeaseRecord("a", 15.0, WHEN, WHEN))
    fault_proxy.add(always(kind, "PATCH", **options))
    with pytest.raises(error):
        await proxied.update(replace(created, renew_time=datetime(2024, 5, 2, tzinfo=UTC)))
    assert fault_proxy.hits == {kind: 1}


@pytest.mark.parametrize(
    ("kind", "options"),
    [("status500", {}), ("drop_request", {}), ("status", {"status": 403})],
)
async def test_read_failures_are_backend_errors(
    proxied: KubernetesLeaseBackend,
    fault_proxy: FaultProxy,
    kind: FaultKind,
    options: dict[str, Any],
) -> None:
    # Every GET, not one: aiohttp transparently retries an idempotent GET once on a
    # dropped connection.
    fault_proxy.add(always(kind, "GET", **options))
    with pytest.raises(LeaseBackendError):
        await proxied.get()
    assert fault_proxy.hits[kind] >= 1


async def test_the_proxied_client_is_the_service_account_not_the_admin(
    proxied: KubernetesLeaseBackend, kube_api: KubeApi
) -> None:
    """Behind the proxy the server applies the token's RBAC: a Lease in another namespace
    (which the ServiceAccount's Role does not cover) is forbidden, not created."""
    elsewhere = KubernetesLeaseBackend(proxied.client, "kube-public", NAME, request_timeout=2.0)
    with pytest.raises(LeaseBackendError, match="403"):
        await elsewhere.get()
    with kube_api.http() as http:
        assert (
            http.get(
                f"/apis/coordination.k8s.io/v1/namespaces/kube-public/leases/{NAME}"
            ).status_code
            == 404
        )


async def test_create_conflict_on_existing(backend: KubernetesLeaseBackend) -> None:
    await backend.create(LeaseRecord("a", 15.0))
    with pytest.raises(LeaseConflict):
        await backend.create(LeaseRecord("b", 15.0))


async def test_an_unreachable_api_server_is_a_backend_error() -> None:
    nowhere = Connection(server="http://127.0.0.1:9", ssl_context=False)  # the discard port
    backend = KubernetesLeaseBackend(KubeClient(nowhere), "default", NAME, request_timeout=1.0)
    with pytest.raises(LeaseBackendError):
        await backend.get()
