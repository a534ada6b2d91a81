"""The identity of the SenderPool its children are built for, and their shared metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from wafleet_operator.api import SENDER_POOL, SenderPool
from wafleet_operator.specs.labels import sender_labels
from wafleet_operator.specs.owner import OwnerRef, owner_reference


@dataclass(frozen=True, slots=True)
class PoolRef(OwnerRef):
    """A SenderPool as the owner of its children (see `OwnerRef`)."""

    KIND: ClassVar[str] = SENDER_POOL.kind

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


def pool_object_meta(pool: PoolRef, name: str) -> dict[str, Any]:
    """metadata of a child: its name, the pool's namespace, the common labels and the
    owner reference."""
    return {
        "name": name,
        "namespace": pool.namespace,
        "labels": sender_labels(pool.name),
        "ownerReferences": [owner_reference(pool)],
    }
