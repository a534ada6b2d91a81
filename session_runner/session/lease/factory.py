"""Build the configured lease backend and timings from `RunnerSettings`.

The heavy client libraries are imported only for the backend in use: the
runner's memory budget (issue 5, point 10) has no room for both
kubernetes_asyncio and boto3 when one will do.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from session_runner.session.lease.backend import LeaseBackend
from session_runner.session.lease.record import LeaseTimings

if TYPE_CHECKING:
    from session_runner.contract.settings import RunnerSettings


def timings_from_settings(settings: RunnerSettings) -> LeaseTimings:
    """The lease_* settings as LeaseTimings (validated again; settings already enforce the order)."""
    return LeaseTimings(
        duration=settings.lease_duration_seconds,
        renew_deadline=settings.lease_renew_deadline_seconds,
        retry_period=settings.lease_retry_period_seconds,
    )


@asynccontextmanager
async def open_backend(
    settings: RunnerSettings, *, request_timeout: float = 5.0
) -> AsyncIterator[LeaseBackend]:
    """The backend `settings.lease_backend` selects, closed on exit.

    kubernetes: in-cluster service account when running in a pod, else the
    kubeconfig (KUBECONFIG / ~/.kube/config); Lease `settings.lease_name` in
    `settings.namespace`.

    dynamodb: a boto3 client from the standard AWS environment (credentials,
    AWS_ENDPOINT_URL[_DYNAMODB] for moto or DynamoDB Local; region from
    AWS_REGION / AWS_DEFAULT_REGION, else `snapshot_region`); item
    `settings.lease_name` in table `settings.lease_dynamodb_table`, which must
    exist (`DynamoDbLeaseBackend.ensure_table()` creates it for development).
    """
    from session_runner.contract.settings import LeaseBackend as Kind

    if settings.lease_backend is Kind.KUBERNETES:
        from session_runner.kube.client import KubeClient
        from session_runner.session.lease.kubernetes import KubernetesLeaseBackend

        async with KubeClient.connect() as client:
            yield KubernetesLeaseBackend(
                client, settings.namespace, settings.lease_name, request_timeout=request_timeout
            )
    else:
        import boto3

        from session_runner.session.lease.dynamodb import DynamoDbLeaseBackend, client_config

        region = (
            os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or settings.snapshot_region
        )
        client = boto3.client("dynamodb", region_name=region, config=client_config(request_timeout))
        try:
            yield DynamoDbLeaseBackend(client, settings.lease_dynamodb_table, settings.lease_name)
        finally:
            client.close()
