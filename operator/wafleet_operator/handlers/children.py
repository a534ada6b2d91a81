"""kopf handlers for the objects the operator creates.

A child edited or deleted by hand is drift: the owner account is reconciled,
which applies the desired object again.

Secrets are not watched: the operator may only read the Secrets an account
names, by name, in the namespaces it serves (a watch would need list/watch on
every Secret there). An account waiting for a Secret is re-checked by a timer
instead (whatsapp_account.account_awaits_secret), so fixing the cluster still
recovers without restarting anything.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from wafleet_operator.drift import fingerprint, is_drift
from wafleet_operator.kube import KubeError
from wafleet_operator.reconcile import Context, reconcile_by_name

from .retry_policy import api_retry_delay

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
    """Reconcile the owner account, retrying API errors a few times (`api_retry_delay`).

    After that, or at once for an error waiting cannot fix, the periodic
    resync takes over: an event handler must not hold its worker for long. Every failed attempt is logged (and counted by
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
            delay = api_retry_delay(error.status, attempt)
            if delay is None:
                break
            if attempt < ATTEMPTS:
                await asyncio.sleep(delay)
    log.error(
        "gave up reconciling %s/%s (%s) after %d attempts; the periodic resync will retry",
        namespace,
        account,
        trigger,
        attempt,
    )


def register(registry: kopf.OperatorRegistry) -> None:
    for group, version, plural in CHILDREN:
        _register_child(registry, group, version, plural, drift_on_modify=True)
    _register_child(registry, "coordination.k8s.io", "v1", "leases", drift_on_modify=False)


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
