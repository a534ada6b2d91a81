"""kopf handlers for WhatsAppAccount: thin, each one hands the account to `reconcile`.

- create/update/resume: the spec (or labels, annotations such as wafleet.io/fenced)
  changed, or the operator restarted: apply children and write status.
- event: the runner wrote a new report under status.runner: recompute status.
- delete: the finalizer honours deletionPolicy (handlers/deletion.py), then garbage
  collection removes the children through their ownerReferences.
- timer: an account refused because of a Secret is re-checked every few seconds
  (Secrets are read by name, never watched).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Final

import kopf

from session_runner.contract.resources import ACCOUNT_PLURAL, GROUP, VERSION
from wafleet_operator.config import OperatorSettings
from wafleet_operator.kube import KubeError
from wafleet_operator.reconcile import Context, reconcile

from .deletion import delete_snapshots
from .retry_policy import kopf_outcome

ACCOUNTS = (GROUP, VERSION, ACCOUNT_PLURAL)

log = logging.getLogger(__name__)

#: How often an account refused for a missing or incomplete Secret is reconciled again:
#: a Secret created later is noticed within this many seconds, without watching Secrets.
SECRET_RECHECK_SECONDS: Final = 5.0


async def run_reconcile(
    ctx: Context,
    body: Mapping[str, Any],
    *,
    apply_children: bool,
    trigger: str,
    retry: int = 0,
) -> None:
    """Reconcile, turning API errors into kopf's retry outcomes (`reconcile` counts them).

    `retry` is kopf's count of earlier failed calls of this handler.
    """
    try:
        await reconcile(ctx, body, apply_children=apply_children, trigger=trigger)
    except KubeError as error:
        raise kopf_outcome(error, retry) from None


def _runner_fingerprint(body: Mapping[str, Any]) -> str:
    return json.dumps((body.get("status") or {}).get("runner"), sort_keys=True, default=str)


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    """Register the account handlers; called once at startup with the loaded settings."""
    seen_reports: dict[tuple[str, str], str] = {}

    @kopf.on.resume(*ACCOUNTS, id="account_changed", registry=registry)
    @kopf.on.create(*ACCOUNTS, id="account_changed", registry=registry)
    @kopf.on.update(*ACCOUNTS, id="account_changed", registry=registry)
    async def account_changed(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
        await run_reconcile(memo["ctx"], body, apply_children=True, trigger="spec", retry=retry)

    @kopf.on.event(*ACCOUNTS, id="account_reported", registry=registry)
    async def account_reported(
        body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any
    ) -> None:
        """React to the runner's report only: our own status writes change nothing here."""
        key = (body.metadata.namespace or "", body.metadata.name or "")
        if type == "DELETED":
            seen_reports.pop(key, None)
            return
        fingerprint = _runner_fingerprint(body)
        if (body.get("status") or {}).get("runner") is None or seen_reports.get(key) == fingerprint:
            return
        seen_reports[key] = fingerprint
        try:
            await reconcile(memo["ctx"], body, apply_children=False, trigger="runner")
        except KubeError as error:
            seen_reports.pop(key, None)  # let the next event try again
            log.warning("handling the runner report of %s/%s failed: %s", *key, error)
            kopf.warn(body, reason="StatusFailed", message=f"could not write status: {error}")

    @kopf.on.delete(*ACCOUNTS, id="account_deleted", registry=registry)
    async def account_deleted(
        body: kopf.Body,
        spec: kopf.Spec,
        name: str,
        namespace: str | None,
        memo: kopf.Memo,
        patch: kopf.Patch,
        **_: Any,
    ) -> None:
        """Honour deletionPolicy (handlers/deletion.py); the finalizer goes when this returns."""
        ctx: Context = memo["ctx"]
        ctx.phases.forget(namespace or "default", name)
        await delete_snapshots(ctx, body, dict(spec), patch)

    @kopf.timer(
        *ACCOUNTS,
        id="account_awaits_secret",
        interval=SECRET_RECHECK_SECONDS,
        when=awaits_secret,
        registry=registry,
    )
    async def account_awaits_secret(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        """Reconcile an account whose spec was refused and names Secrets, until it is valid.

        The operator does not watch Secrets (it may only read them by name), so a
        Secret created or fixed later is noticed by this timer, which exists only
        while the account is refused (kopf stops it when `awaits_secret` turns false).
        """
        try:
            await reconcile(memo["ctx"], body, apply_children=True, trigger="secret")
        except KubeError as error:
            log.warning(
                "re-checking the Secrets of %s/%s failed: %s",
                body.metadata.namespace,
                body.metadata.name,
                error,
            )


def awaits_secret(body: kopf.Body, **_: Any) -> bool:
    """The account is refused (Ready=False/InvalidSpec), names Secrets, and is not being deleted.

    Secret problems are the ones a change outside the account can fix; any other
    invalid spec is fixed by editing the account, which kopf sees anyway. Checking
    only that the spec names Secrets keeps this free of the problem messages' wording.
    """
    if body.metadata.get("deletionTimestamp"):
        return False
    if not (body.get("spec") or {}).get("snapshot"):
        return False
    conditions = (body.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    return ready is not None and ready.get("reason") == "InvalidSpec"
