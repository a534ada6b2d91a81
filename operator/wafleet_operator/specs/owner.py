"""The owner a child is built for, as every builder needs it, whatever its kind. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from wafleet_operator.api import API_VERSION


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """What the builders need to know about the owning object itself.

    Kept apart from the spec because it comes from metadata (the uid for the
    owner references, the namespace the children live in), and small and frozen
    so a builder cannot mistake it for something to read the cluster with.
    ``generation`` is not rendered into any child on purpose: stamping it on the
    children would rewrite all of them on every spec edit, and stamping it on a
    pod template would restart the pods for changes that do not affect them.
    The operator reports it as ``status.observedGeneration``.
    """

    KIND: ClassVar[str] = ""

    name: str
    namespace: str
    uid: str
    generation: int

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> Self:
        """From the owner's ``metadata`` (a kopf ``meta`` or a raw body's)."""
        return cls(
            name=str(meta["name"]),
            namespace=str(meta["namespace"]),
            uid=str(meta["uid"]),
            generation=int(meta.get("generation") or 1),
        )


def owner_reference(owner: OwnerRef) -> dict[str, Any]:
    """The controller reference that makes every child go away with its owner
    (garbage collection) and lets kopf/kubectl find the owner.

    ``blockOwnerDeletion`` keeps a foreground deletion of the owner waiting for
    its children; it requires the operator to be allowed to update the owner's
    ``/finalizers``.
    """
    return {
        "apiVersion": API_VERSION,
        "kind": owner.KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
