"""Pure builders: an account in, the Kubernetes objects it needs out.

One module per object, no I/O: the operator server-side applies what these
return, and golden tests pin every field (``tests/unit/specs``).
"""

from __future__ import annotations

from typing import Any

from wafleet_operator.api import WhatsAppAccountSpec
from wafleet_operator.config import OperatorSettings

from .account import AccountRef
from .lease import build_lease
from .rbac import build_role, build_role_binding, build_service_account
from .sender import (
    SENDER_APPLY_ORDER,
    KedaAuthentication,
    PoolRef,
    SenderImageNotAllowedError,
    SenderWiring,
    build_scaled_object,
    build_sender_children,
    build_sender_deployment,
    build_sender_pdb,
    build_sender_service_account,
)
from .service import build_service
from .statefulset import build_statefulset

#: Kinds in the order build_children returns (and the operator applies) them.
APPLY_ORDER = ("ServiceAccount", "Role", "RoleBinding", "Lease", "Service", "StatefulSet")


def build_children(
    account: AccountRef, spec: WhatsAppAccountSpec, settings: OperatorSettings
) -> list[dict[str, Any]]:
    """Every child of the account, in apply order.

    Identity and permissions first, then the Lease, so that when the
    StatefulSet's pod starts, its token already grants it the Lease it is
    about to claim (a runner starting first would only crash-loop until they
    appear); the StatefulSet last because it is the one that starts something.
    """
    return [
        build_service_account(account),
        build_role(account),
        build_role_binding(account),
        build_lease(account, spec),
        build_service(account),
        build_statefulset(account, spec, settings),
    ]


__all__ = ["APPLY_ORDER", "AccountRef", "build_children"]
__all__ += [
    "SENDER_APPLY_ORDER",
    "KedaAuthentication",
    "PoolRef",
    "SenderImageNotAllowedError",
    "SenderWiring",
    "build_scaled_object",
    "build_sender_children",
    "build_sender_deployment",
    "build_sender_pdb",
    "build_sender_service_account",
]
