"""kopf handlers for the objects the operator creates, and for the Secrets accounts use.

A child edited or deleted by hand is drift: the owner account is reconciled,
which applies the desired object again. A Secret created or fixed later makes
an account that was waiting for it valid: it is reconciled too, so fixing the
cluster recovers without restarting anything.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from wafleet_operator.drift import fingerprint, is_drift
from wafleet_operator.kube import KubeError
from wafleet_operator.reconcile import Context, reconcile_by_name

log = logging.getLogger(__name__)

MANAGED = {"app.kubernetes.io/managed-by": "wafleet-operator"}
ACCOUNT_LABEL = "wafleet.io/account"
#: API errors an event handler retries before leaving the account to the resync.
ATTEMPTS = 3

#: (group, version, plural) of every child kind; Leases are renewed by the runner
#: every few seconds, so for them only deletion counts as drift.
CHILDREN = (
    ("apps", "v1", "statefulsets"),
    ("", "v1", "services"),
    ("", "v1", "serviceaccounts"),
    ("rbac.authorization.k8s.io", "v1", "roles"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"),
)


async def reconcile_owner(ctx: Context, namespace: str, account: str, trigger: str) -> None:
    """Reconcile the owner account, retrying API errors a few times.

    After that the periodic resync takes over: an event handler must not hold
    its worker for long. Every failed attempt is logged (and counted by
    `reconcile_by_name`), so drift the operator could not repair is visible.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            await reconcile_by_name(ctx, namespace, account, trigger=trigger)
            return
        except KubeError as error:
            log.warning(
                "reconciling %s/%s (%s) failed, attempt %d of %d: %s",
                namespace,
                account,
                trigger,
                attempt,
                ATTEMPTS,
                error,
            )
            if attempt < ATTEMPTS:
                await asyncio.sleep(0.2 * 2 ** (attempt - 1))
    log.error(
        "gave up reconciling %s/%s (%s) after %d attempts; the periodic resync will retry",
        namespace,
        account,
        trigger,
        ATTEMPTS,
    )


def register(registry: kopf.OperatorRegistry) -> None:
    for group, version, plural in CHILDREN:
        _register_child(registry, group, version, plural, drift_on_modify=True)
    _register_child(registry, "coordination.k8s.io", "v1", "leases", drift_on_modify=False)

    @kopf.index(
        "wafleet.io", "v1alpha1", "whatsappaccounts", id="accounts_by_secret", registry=registry
    )
    async def accounts_by_secret(
        spec: kopf.Spec, name: str, namespace: str | None, **_: Any
    ) -> dict[tuple[str | None, str], str]:
        """Which accounts name which Secret, so a Secret event finds its accounts."""
        snapshot = spec.get("snapshot") or {}
        refs: dict[tuple[str | None, str], str] = {}
        for field in ("encryptionKeySecret", "credentialsSecret"):
            secret = (snapshot.get(field) or {}).get("name")
            if secret:
                refs[(namespace, secret)] = name
        return refs

    @kopf.on.event("v1", "secrets", id="secret_changed", registry=registry)
    async def secret_changed(
        name: str,
        namespace: str | None,
        type: str,
        memo: kopf.Memo,
        **kwargs: Any,
    ) -> None:
        index: kopf.Index[tuple[str | None, str], str] = kwargs["accounts_by_secret"]
        if not type or namespace is None:  # the initial listing: accounts resume on their own
            return
        for account in set(index.get((namespace, name), [])):
            await reconcile_owner(memo["ctx"], namespace, account, trigger="secret")


def _register_child(
    registry: kopf.OperatorRegistry, group: str, version: str, plural: str, *, drift_on_modify: bool
) -> None:
    #: The fingerprint (drift.fingerprint) last seen per object of this kind.
    seen: dict[tuple[str, str], str] = {}

    async def child_changed(
        type: str,
        body: kopf.Body,
        labels: kopf.Labels,
        name: str,
        namespace: str | None,
        memo: kopf.Memo,
        **_: Any,
    ) -> None:
        key = (namespace or "", name)
        current = fingerprint(body)
        previous = seen.pop(key, None) if type == "DELETED" else seen.get(key)
        if type != "DELETED":
            seen[key] = current
        if type == "MODIFIED" and not drift_on_modify:
            return
        if is_drift(type or "", previous, current):
            account = labels.get(ACCOUNT_LABEL)
            if account and namespace:
                await reconcile_owner(
                    memo["ctx"], namespace, account, trigger=f"{plural}-{type.lower()}"
                )

    where = (f"{group}/{version}", plural) if group else (version, plural)
    kopf.on.event(*where, labels=MANAGED, registry=registry, id=f"drift-{plural}")(child_changed)
