"""The lease as a coordination.k8s.io/v1 Lease, through the runner's small REST client.

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
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from session_runner.kube.client import MERGE_PATCH, KubeClient
from session_runner.kube.errors import APIConflictError, APIError, APINotFoundError
from session_runner.session.lease.record import (
    LeaseBackendError,
    LeaseConflict,
    LeaseNotFound,
    LeaseRecord,
)


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


def parse_micro_time(value: str | None) -> datetime | None:
    """RFC 3339 as the API server writes MicroTime and Time ('Z', optional fraction)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class KubernetesLeaseBackend:
    """Lease `name` in `namespace`, reached through a `KubeClient`.

    Every request is bounded by `request_timeout` seconds; the elector bounds
    renewals more tightly still (by the time left to its renew deadline).
    """

    def __init__(
        self, client: KubeClient, namespace: str, name: str, *, request_timeout: float = 5.0
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.request_timeout = request_timeout
        self._collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"

    async def get(self) -> LeaseRecord | None:
        try:
            lease = await self._call("GET", f"{self._collection}/{self.name}")
        except LeaseNotFound:
            return None
        return record_from_lease(lease)

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": _spec(record),
        }
        return record_from_lease(await self._call("POST", self._collection, body))

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        if not record.version:
            raise ValueError("an update needs the resourceVersion it expects to replace")
        body = {"metadata": {"resourceVersion": record.version}, "spec": _spec(record)}
        return record_from_lease(
            await self._call("PATCH", f"{self._collection}/{self.name}", body, MERGE_PATCH)
        )

    async def _call(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> dict[str, Any]:
        """One API call, its failures translated into the backend contract's errors."""
        where = f"lease {self.namespace}/{self.name}"
        try:
            return await asyncio.wait_for(
                self.client.request(method, path, body, content_type=content_type),
                self.request_timeout,
            )
        except APIConflictError as exc:
            raise LeaseConflict(f"{where}: {exc.reason}") from exc
        except APINotFoundError as exc:
            raise LeaseNotFound(f"{where} not found") from exc
        except APIError as exc:
            raise LeaseBackendError(f"{where}: HTTP {exc.status} {exc.reason}") from exc
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            raise LeaseBackendError(f"{where}: {type(exc).__name__}: {exc}") from exc


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


def record_from_lease(lease: Mapping[str, Any]) -> LeaseRecord:
    """A Lease object as the API returns it (JSON) as a LeaseRecord.

    Raises `ValueError` for an unreadable time. Pure: the operator reads its
    accounts' Leases with it too.
    """
    spec = lease.get("spec") or {}
    return LeaseRecord(
        holder=spec.get("holderIdentity") or None,
        lease_duration_s=float(spec.get("leaseDurationSeconds") or 0),
        acquire_time=parse_micro_time(spec.get("acquireTime")),
        renew_time=parse_micro_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
        version=str((lease.get("metadata") or {}).get("resourceVersion", "")),
    )
