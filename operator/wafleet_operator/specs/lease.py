"""The account's coordination.k8s.io Lease: the fence behind the StatefulSet."""

from __future__ import annotations

from typing import Any

from wafleet_operator.api import WhatsAppAccountSpec

from .account import AccountRef, object_meta
from .naming import child_name


def build_lease(account: AccountRef, spec: WhatsAppAccountSpec) -> dict[str, Any]:
    """The Lease ``waa-<name>``, as the operator server-side applies it.

    The operator creates and owns the Lease (as CloudNativePG does for its
    primary lease) so it exists, with the right duration and owner, before the
    runner starts, and goes away with the account. Everything that records
    *who holds it* belongs to the runner: ``holderIdentity``, ``acquireTime``,
    ``renewTime`` and ``leaseTransitions`` (the fencing token). With server-side
    apply, every field in this object becomes a field the operator manages and
    re-asserts on each reconcile; applying ``holderIdentity`` (even empty) or a
    ``leaseTransitions`` would overwrite the runner's claim and reset the
    fencing token, i.e. fight the very runner the Lease protects. So only the
    metadata and ``spec.leaseDurationSeconds`` are set here; the runner never
    changes the duration, so the two managers never conflict.
    """
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": object_meta(account, child_name(account.name)),
        "spec": {"leaseDurationSeconds": spec.lease.duration_seconds},
    }
