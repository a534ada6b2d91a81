"""The identity of the account the children are built for, and their shared metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from wafleet_operator.api import WHATSAPP_ACCOUNT, WhatsAppAccount

from .labels import labels
from .owner import OwnerRef, owner_reference


@dataclass(frozen=True, slots=True)
class AccountRef(OwnerRef):
    """A WhatsAppAccount as the owner of its children (see `OwnerRef`)."""

    KIND: ClassVar[str] = WHATSAPP_ACCOUNT.kind

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


def object_meta(account: AccountRef, name: str) -> dict[str, Any]:
    """metadata of a child: its name, the account's namespace, the common labels
    and the owner reference."""
    return {
        "name": name,
        "namespace": account.namespace,
        "labels": labels(account.name),
        "ownerReferences": [owner_reference(account)],
    }
