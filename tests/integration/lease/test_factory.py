"""Building the configured backend from RunnerSettings, as the runner does at start-up."""

from __future__ import annotations

from typing import Any

import pytest

from session_runner.contract.settings import RunnerSettings
from session_runner.session.lease.dynamodb import DynamoDbLeaseBackend
from session_runner.session.lease.factory import open_backend, timings_from_settings
from session_runner.session.lease.kubernetes import KubernetesLeaseBackend
from session_runner.session.lease.record import LeaseRecord, LeaseTimings
from tests.harness.kube import KubeApi


def settings(**overrides: Any) -> RunnerSettings:
    return RunnerSettings(
        account_name="alice", phone_number="+15550100", lease_name="waa-alice", **overrides
    )


def test_timings_come_from_the_lease_settings() -> None:
    s = settings(
        lease_duration_seconds=20,
        lease_renew_deadline_seconds=12,
        lease_retry_period_seconds=3,
    )
    assert timings_from_settings(s) == LeaseTimings(20.0, 12.0, 3.0)


async def test_kubernetes_backend_from_a_kubeconfig(
    kube_api: KubeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KUBECONFIG (the admin's, client certificate) reaches the real server's Lease."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    async with open_backend(settings(namespace=kube_api.namespace)) as backend:
        assert isinstance(backend, KubernetesLeaseBackend)
        assert (backend.namespace, backend.name) == (kube_api.namespace, "waa-alice")
        created = await backend.create(LeaseRecord("a", 15.0))
        assert (await backend.get()) == created
    with kube_api.http() as http:
        lease = http.get(
            f"/apis/coordination.k8s.io/v1/namespaces/{kube_api.namespace}/leases/waa-alice"
        ).json()
    assert lease["spec"]["holderIdentity"] == "a"


async def test_dynamodb_backend_from_the_aws_environment(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs = aws.server.client_kwargs()
    monkeypatch.setenv("AWS_ENDPOINT_URL", kwargs["endpoint_url"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", kwargs["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", kwargs["aws_secret_access_key"])
    monkeypatch.setenv("AWS_REGION", kwargs["region_name"])
    s = settings(lease_backend="dynamodb", lease_dynamodb_table="leases-from-settings")
    async with open_backend(s) as backend:
        assert isinstance(backend, DynamoDbLeaseBackend)
        assert (backend.table, backend.name) == ("leases-from-settings", "waa-alice")
        await backend.ensure_table()
        created = await backend.create(LeaseRecord("a", 15.0))
        assert await backend.get() == created
