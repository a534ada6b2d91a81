"""A sender's identity and the least it may do with it.

Each pool gets its own ServiceAccount and Role, so a compromised sender (it holds
a vendor's credentials and talks to the internet) can touch only its own pool,
never another pool, an account or a Secret. Its AWS access (the queue, the
ledger) is not Kubernetes RBAC: that is the pod's IAM identity.
"""

from __future__ import annotations

from typing import Any

from wafleet_operator.api import GROUP, SENDER_POOL
from wafleet_operator.specs.naming import sender_child_name
from wafleet_operator.specs.rbac import RBAC_API_VERSION

from .pool import PoolRef, pool_object_meta


def build_sender_service_account(pool: PoolRef) -> dict[str, Any]:
    """ServiceAccount ``sp-<pool>``; the senders need its token for their pool's status."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": pool_object_meta(pool, sender_child_name(pool.name)),
        "automountServiceAccountToken": True,
    }


def sender_role_rules(pool: PoolRef) -> list[dict[str, Any]]:
    """The Role's rules; every verb that can be restricted to one object is.

    - ``senderpools`` get on its own pool: a replica that starts (or is scaled
      up) while the vendor throttles the pool reads ``status.throttledUntil``
      and waits instead of adding load. No list or watch: one object, by name.
    - ``senderpools/status`` patch on its own pool: a replica the vendor tells
      to slow down records ``status.throttledUntil``, so every other replica and
      the operator's ``Throttled`` condition learn it. Only the status
      subresource: a sender can never change its own spec (its rate limit,
      its image).
    - ``events`` create: a sender records what the vendor refused (credentials,
      a sender number) as Events on its pool, so ``kubectl describe sp`` shows
      them. ``create`` cannot be restricted by name (a new object's name is not
      known at authorization time), so this rule is unrestricted.
    """
    return [
        {
            "apiGroups": [GROUP],
            "resources": [SENDER_POOL.plural],
            "resourceNames": [pool.name],
            "verbs": ["get"],
        },
        {
            "apiGroups": [GROUP],
            "resources": [f"{SENDER_POOL.plural}/status"],
            "resourceNames": [pool.name],
            "verbs": ["patch"],
        },
        {
            "apiGroups": [""],
            "resources": ["events"],
            "verbs": ["create"],
        },
    ]


def build_sender_role(pool: PoolRef) -> dict[str, Any]:
    """Role ``sp-<pool>`` with :func:`sender_role_rules`."""
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "Role",
        "metadata": pool_object_meta(pool, sender_child_name(pool.name)),
        "rules": sender_role_rules(pool),
    }


def build_sender_role_binding(pool: PoolRef) -> dict[str, Any]:
    """RoleBinding ``sp-<pool>``: the Role to the pool's ServiceAccount only."""
    name = sender_child_name(pool.name)
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "RoleBinding",
        "metadata": pool_object_meta(pool, name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": pool.namespace}],
    }
