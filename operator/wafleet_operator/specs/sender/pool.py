"""The identity of the SenderPool its children are built for, and their shared metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wafleet_operator.api import API_VERSION, SENDER_POOL, SenderPool
from wafleet_operator.specs.labels import sender_labels


@dataclass(frozen=True, slots=True)
class PoolRef:
    """What the builders need to know about the pool object itself (the twin of
    ``AccountRef``): its name, the namespace its children live in, and the uid of
    their owner references. ``generation`` is never rendered into a child, so a
    spec edit that does not concern a child leaves it (and its pods) alone.
    """

    name: str
    namespace: str
    uid: str
    generation: int

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> PoolRef:
        """From the pool's ``metadata`` (a kopf ``meta`` or a raw body's)."""
        return cls(
            name=str(meta["name"]),
            namespace=str(meta["namespace"]),
            uid=str(meta["uid"]),
            generation=int(meta.get("generation") or 1),
        )

    @classmethod
    def from_pool(cls, pool: SenderPool) -> PoolRef:
        """From a parsed pool; name, namespace and uid must be set (they are on any
        object read from the API server)."""
        meta = pool.metadata
        if not (meta.name and meta.namespace and meta.uid):
            raise ValueError("the pool needs metadata.name, namespace and uid")
        return cls(
            name=meta.name, namespace=meta.namespace, uid=meta.uid, generation=meta.generation or 1
        )


def pool_owner_reference(pool: PoolRef) -> dict[str, Any]:
    """The controller reference that makes every child go away with its pool.

    ``blockOwnerDeletion`` keeps a foreground deletion of the pool waiting for its
    children (so its senders have stopped before the pool is gone); it requires the
    operator to be allowed to update ``senderpools/finalizers``.
    """
    return {
        "apiVersion": API_VERSION,
        "kind": SENDER_POOL.kind,
        "name": pool.name,
        "uid": pool.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pool_object_meta(pool: PoolRef, name: str) -> dict[str, Any]:
    """metadata of a child: its name, the pool's namespace, the common labels and the
    owner reference."""
    return {
        "name": name,
        "namespace": pool.namespace,
        "labels": sender_labels(pool.name),
        "ownerReferences": [pool_owner_reference(pool)],
    }
