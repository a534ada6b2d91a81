"""Kubernetes specifics: the operator-created Lease, wire format, and API failures as the
backend contract's errors (faults injected in the API emulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes_asyncio.client import CoordinationV1Api

from session_runner.kube.client import KubeClient
from session_runner.kube.connection import Connection, from_kubeconfig
from session_runner.lease.decision import next_record_for_acquire
from session_runner.lease.kubernetes import KubernetesLeaseBackend
from session_runner.lease.record import (
    LeaseBackendError,
    LeaseConflict,
    LeaseRecord,
    LeaseTimings,
)

NS, NAME = "default", "waa-alice"
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def api_client(kube_api: Any) -> AsyncIterator[Any]:
    client = await kube_api.async_client()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def kube(kube_api: Any) -> AsyncIterator[KubeClient]:
    """The runner's own client, which the backend under test uses."""
    client = KubeClient(from_kubeconfig(kube_api.kubeconfig))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def backend(kube: KubeClient) -> KubernetesLeaseBackend:
    return KubernetesLeaseBackend(kube, NS, NAME, request_timeout=1.0)


async def operator_creates_lease(api_client: Any) -> None:
    """The Lease as the operator creates it: a duration and an owner, no holder yet."""
    body: Any = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": NAME, "labels": {"app.kubernetes.io/managed-by": "wafleet"}},
        "spec": {"leaseDurationSeconds": 15},
    }
    await CoordinationV1Api(api_client).create_namespaced_lease(NS, body)


async def test_claiming_the_operators_lease_keeps_its_metadata(
    backend: KubernetesLeaseBackend, api_client: Any
) -> None:
    await operator_creates_lease(api_client)
    current = await backend.get()
    assert current is not None
    assert current.holder is None
    assert current.lease_duration_s == 15.0
    assert current.transitions == 0
    claim = next_record_for_acquire("pod-0_abcd1234", current, WHEN, LeaseTimings())
    won = await backend.update(claim)
    assert won.holder == "pod-0_abcd1234"
    assert won.transitions == 1

    raw = await CoordinationV1Api(api_client).read_namespaced_lease(NAME, NS)
    assert raw.metadata.labels == {"app.kubernetes.io/managed-by": "wafleet"}
    assert raw.spec.holder_identity == "pod-0_abcd1234"
    assert raw.spec.lease_transitions == 1
    assert raw.spec.lease_duration_seconds == 15


async def test_wire_format_is_micro_time_and_whole_seconds(
    backend: KubernetesLeaseBackend, kube_api: Any
) -> None:
    await backend.create(LeaseRecord("a", 1.5, acquire_time=WHEN, renew_time=WHEN, transitions=0))
    with kube_api.http() as http:
        spec = http.get(f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{NAME}").json()[
            "spec"
        ]
    assert spec["renewTime"] == "2024-05-01T12:00:00.000000Z"
    assert spec["acquireTime"] == "2024-05-01T12:00:00.000000Z"
    assert spec["leaseDurationSeconds"] == 2  # rounded up, never shorter than ours


async def test_release_removes_the_holder_field(
    backend: KubernetesLeaseBackend, kube_api: Any
) -> None:
    created = await backend.create(LeaseRecord("a", 15.0, WHEN, WHEN))
    await backend.update(replace(created, holder=None, acquire_time=None))
    with kube_api.http() as http:
        spec = http.get(f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{NAME}").json()[
            "spec"
        ]
    assert "holderIdentity" not in spec
    assert "acquireTime" not in spec


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 500}, LeaseBackendError),
        ({"status": 503}, LeaseBackendError),
        ({"status": 504}, LeaseBackendError),
        ({"status": 429}, LeaseBackendError),
        ({"drop": True}, LeaseBackendError),
        ({"delay": 3.0}, LeaseBackendError),  # beyond the 1 s request timeout
        ({"status": 409}, LeaseConflict),
    ],
)
async def test_write_failures_map_to_contract_errors(
    backend: KubernetesLeaseBackend, kube_api: Any, fault: dict[str, Any], error: type
) -> None:
    created = await backend.create(LeaseRecord("a", 15.0, WHEN, WHEN))
    rule = kube_api.faults.inject(method="PATCH", path=rf"/leases/{NAME}$", **fault)
    with pytest.raises(error):
        await backend.update(replace(created, renew_time=datetime(2024, 5, 2, tzinfo=UTC)))
    assert rule.hits == 1


@pytest.mark.parametrize("fault", [{"status": 500}, {"drop": True}, {"status": 403}])
async def test_read_failures_are_backend_errors(
    backend: KubernetesLeaseBackend, kube_api: Any, fault: dict[str, Any]
) -> None:
    # times=None: aiohttp transparently retries an idempotent GET once on a dropped connection.
    kube_api.faults.inject(method="GET", path=rf"/leases/{NAME}$", times=None, **fault)
    with pytest.raises(LeaseBackendError):
        await backend.get()


async def test_create_conflict_on_existing(backend: KubernetesLeaseBackend) -> None:
    await backend.create(LeaseRecord("a", 15.0))
    with pytest.raises(LeaseConflict):
        await backend.create(LeaseRecord("b", 15.0))


async def test_an_unreachable_api_server_is_a_backend_error() -> None:
    nowhere = Connection(server="http://127.0.0.1:9", ssl_context=False)  # the discard port
    backend = KubernetesLeaseBackend(KubeClient(nowhere), NS, NAME, request_timeout=1.0)
    with pytest.raises(LeaseBackendError):
        await backend.get()
