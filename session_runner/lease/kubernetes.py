"""The lease as a coordination.k8s.io/v1 Lease, through kubernetes_asyncio.

The operator creates each account's Lease (with spec.leaseDurationSeconds
and an ownerReference to the account); the runner reads and updates it, and
creates it only when it is missing (standalone development without the
operator).

Updates are JSON merge patches carrying `metadata.resourceVersion`, which the
API server treats as a precondition (409 Conflict when the object changed).
Not a PUT: the Lease strategy has AllowCreateOnUpdate, so a PUT to a deleted
Lease silently re-creates it (without the operator's ownerReference, and in a
cluster needing the `create` verb the runner's Role does not grant). A PATCH
of a missing Lease is a plain 404, which keeps the backend contract ("update
never creates") identical across backends. Fault rules that target lease
writes therefore match method PATCH (or any method) on the lease's path.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes_asyncio.client import CoordinationV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from session_runner.lease.record import (
    LeaseBackendError,
    LeaseConflict,
    LeaseNotFound,
    LeaseRecord,
)

MERGE_PATCH = "application/merge-patch+json"


def format_micro_time(value: datetime | None) -> str | None:
    """A MicroTime as the API server writes it: RFC 3339, always 6 fractional digits, 'Z'.

    Always six digits: Go parses MicroTime with a fixed `.000000` layout, and
    Python's isoformat() drops the fraction when it is zero.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("lease timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class KubernetesLeaseBackend:
    """Lease `name` in `namespace`, reached with a kubernetes_asyncio `ApiClient`.

    Every request is bounded by `request_timeout` seconds; the elector bounds
    renewals more tightly still (by the time left to its renew deadline).
    """

    def __init__(
        self, api_client: Any, namespace: str, name: str, *, request_timeout: float = 5.0
    ) -> None:
        # Any: the package's stubs omit `_content_type`, which the generated code accepts.
        self.api: Any = CoordinationV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self.request_timeout = request_timeout

    async def get(self) -> LeaseRecord | None:
        try:
            lease = await self._call(
                self.api.read_namespaced_lease(
                    self.name, self.namespace, _request_timeout=self.request_timeout
                )
            )
        except LeaseNotFound:
            return None
        return _record(lease)

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": _spec(record),
        }
        lease = await self._call(
            self.api.create_namespaced_lease(
                self.namespace, body, _request_timeout=self.request_timeout
            )
        )
        return _record(lease)

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        if not record.version:
            raise ValueError("an update needs the resourceVersion it expects to replace")
        body = {"metadata": {"resourceVersion": record.version}, "spec": _spec(record)}
        lease = await self._call(
            self.api.patch_namespaced_lease(
                self.name,
                self.namespace,
                body,
                _content_type=MERGE_PATCH,
                _request_timeout=self.request_timeout,
            )
        )
        return _record(lease)

    async def _call(self, request: Any) -> Any:
        """Await one API call, translating its failures into the backend contract's errors."""
        try:
            return await asyncio.wait_for(request, self.request_timeout)
        except ApiException as exc:
            if exc.status == 409:
                raise LeaseConflict(f"lease {self.namespace}/{self.name}: {exc.reason}") from exc
            if exc.status == 404:
                raise LeaseNotFound(f"lease {self.namespace}/{self.name} not found") from exc
            raise LeaseBackendError(
                f"lease {self.namespace}/{self.name}: HTTP {exc.status} {exc.reason}"
            ) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise LeaseBackendError(
                f"lease {self.namespace}/{self.name}: {type(exc).__name__}: {exc}"
            ) from exc


def _spec(record: LeaseRecord) -> dict[str, Any]:
    """The Lease spec for `record`; None values are cleared by the merge patch."""
    return {
        "holderIdentity": record.holder or None,
        # int32 whole seconds on the wire: round up, so others never wait less than we assume.
        "leaseDurationSeconds": math.ceil(record.lease_duration_s),
        "acquireTime": format_micro_time(record.acquire_time),
        "renewTime": format_micro_time(record.renew_time),
        "leaseTransitions": record.transitions,
    }


def _record(lease: Any) -> LeaseRecord:
    """A V1Lease from kubernetes_asyncio as a LeaseRecord."""
    spec = lease.spec
    return LeaseRecord(
        holder=(spec.holder_identity or None) if spec else None,
        lease_duration_s=float((spec.lease_duration_seconds if spec else None) or 0),
        acquire_time=_aware(spec.acquire_time) if spec else None,
        renew_time=_aware(spec.renew_time) if spec else None,
        transitions=int((spec.lease_transitions if spec else None) or 0),
        version=str(lease.metadata.resource_version),
    )
