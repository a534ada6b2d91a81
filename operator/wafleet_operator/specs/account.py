"""The identity of the account the children are built for, and their shared metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wafleet_operator.api import API_VERSION, WHATSAPP_ACCOUNT, WhatsAppAccount

from .labels import labels


@dataclass(frozen=True, slots=True)
class AccountRef:
    """What the builders need to know about the account object itself.

    Kept apart from the spec because it comes from metadata (the uid for the
    owner references, the namespace the children live in), and small and frozen
    so a builder cannot mistake it for something to read the cluster with.
    ``generation`` is not rendered into any child on purpose: stamping it on
    the children would rewrite all of them on every spec edit, and stamping it
    on the pod template would restart the session for changes that do not
    affect it. The operator reports it as ``status.observedGeneration``.
    """

    name: str
    namespace: str
    uid: str
    generation: int

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> AccountRef:
        """From the account's ``metadata`` (a kopf ``meta`` or a raw body's)."""
        return cls(
            name=str(meta["name"]),
            namespace=str(meta["namespace"]),
            uid=str(meta["uid"]),
            generation=int(meta.get("generation") or 1),
        )

    @classmethod
    def from_account(cls, account: WhatsAppAccount) -> AccountRef:
        """From a parsed account; name, namespace and uid must be set (they are
        on any object read from the API server)."""
        meta = account.metadata
        if not (meta.name and meta.namespace and meta.uid):
            raise ValueError("the account needs metadata.name, namespace and uid")
        return cls(
            name=meta.name,
            namespace=meta.namespace,
            uid=meta.uid,
            generation=meta.generation or 1,
        )


def owner_reference(account: AccountRef) -> dict[str, Any]:
    """The controller reference that makes every child go away with its account
    (garbage collection) and lets kopf/kubectl find the owner.

    ``blockOwnerDeletion`` keeps foreground deletion of the account waiting for
    its children; it requires the operator to be allowed to update
    ``whatsappaccounts/finalizers``.
    """
    return {
        "apiVersion": API_VERSION,
        "kind": WHATSAPP_ACCOUNT.kind,
        "name": account.name,
        "uid": account.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(account: AccountRef, name: str) -> dict[str, Any]:
    """metadata of a child: its name, the account's namespace, the common labels
    and the owner reference."""
    return {
        "name": name,
        "namespace": account.namespace,
        "labels": labels(account.name),
        "ownerReferences": [owner_reference(account)],
    }
