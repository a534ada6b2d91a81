"""The runner's identity and the least it may do with it.

Each account gets its own ServiceAccount and Role so a compromised runner (it
runs a browser on untrusted content) can touch only its own Lease and its own
account, never another tenant's.
"""

from __future__ import annotations

from typing import Any

from wafleet_operator.api import GROUP, WHATSAPP_ACCOUNT

from .account import AccountRef, object_meta
from .naming import child_name

RBAC_API_VERSION = "rbac.authorization.k8s.io/v1"


def build_service_account(account: AccountRef) -> dict[str, Any]:
    """ServiceAccount ``waa-<name>``; the runner needs its token to renew the Lease."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(account, child_name(account.name)),
        "automountServiceAccountToken": True,
    }


def role_rules(account: AccountRef) -> list[dict[str, Any]]:
    """The Role's rules; every verb that can be restricted to one object is.

    - ``leases`` get/update/patch on the account's own Lease: acquire and renew
      (a claim is an update conditional on resourceVersion). No create: the
      operator creates the Lease, so a runner cannot conjure a fresh one (and a
      fresh fencing token) by deleting and recreating it; no delete either.
    - ``whatsappaccounts`` get/watch on its own account: the runner watches for
      the ``wafleet.io/fenced`` annotation and stops without a restart. A watch
      is authorized against ``resourceNames`` when it carries the field selector
      ``metadata.name=<name>``, which the runner must send.
    - ``whatsappaccounts/status`` get/patch on its own account: it reports its
      facts under ``status.runner``.
    - ``events`` create: the runner records conflicts ("stream replaced",
      losing the Lease) as Events on its account so ``kubectl describe``
      shows them. ``create`` cannot be restricted by name (the name of a new
      object is not known at authorization time), so this rule is unrestricted.
    """
    own = child_name(account.name)
    return [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [own],
            "verbs": ["get", "update", "patch"],
        },
        {
            "apiGroups": [GROUP],
            "resources": [WHATSAPP_ACCOUNT.plural],
            "resourceNames": [account.name],
            "verbs": ["get", "watch"],
        },
        {
            "apiGroups": [GROUP],
            "resources": [f"{WHATSAPP_ACCOUNT.plural}/status"],
            "resourceNames": [account.name],
            "verbs": ["get", "patch"],
        },
        {
            "apiGroups": [""],
            "resources": ["events"],
            "verbs": ["create"],
        },
    ]


def build_role(account: AccountRef) -> dict[str, Any]:
    """Role ``waa-<name>`` with :func:`role_rules`."""
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "Role",
        "metadata": object_meta(account, child_name(account.name)),
        "rules": role_rules(account),
    }


def build_role_binding(account: AccountRef) -> dict[str, Any]:
    """RoleBinding ``waa-<name>``: the Role to the account's ServiceAccount only."""
    name = child_name(account.name)
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "RoleBinding",
        "metadata": object_meta(account, name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": account.namespace}],
    }
