"""kopf handlers for WhatsAppAccount: thin, each one hands the account to `reconcile`.

- create/update/resume: the spec (or labels, annotations such as wafleet.io/fenced)
  changed, or the operator restarted: apply children and write status.
- event: the runner wrote a new report under status.runner: recompute status.
- delete: the finalizer honours deletionPolicy, then garbage collection removes
  the children through their ownerReferences.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from wafleet_operator.api import WhatsAppAccountSpec
from wafleet_operator.config import OperatorSettings
from wafleet_operator.kube import KubeError
from wafleet_operator.reconcile import Context, reconcile
from wafleet_operator.snapshots import delete_account_snapshots

ACCOUNTS = ("wafleet.io", "v1alpha1", "whatsappaccounts")

log = logging.getLogger(__name__)

#: Status codes worth retrying soon: conflicts, throttling, server trouble, no answer (0).
RETRYABLE = frozenset({0, 409, 429, 500, 502, 503, 504})


def retry_delay(error: KubeError) -> float | None:
    """Seconds to wait before retrying after an API error; None for errors a retry cannot fix."""
    if error.status in RETRYABLE:
        return 1.0
    return None


async def run_reconcile(
    ctx: Context, body: Mapping[str, Any], *, apply_children: bool, trigger: str
) -> None:
    """Reconcile, turning API errors into kopf's retry outcomes (`reconcile` counts them)."""
    try:
        await reconcile(ctx, body, apply_children=apply_children, trigger=trigger)
    except KubeError as error:
        delay = retry_delay(error)
        if delay is None:
            raise kopf.PermanentError(f"API refused a write: {error}") from None
        raise kopf.TemporaryError(f"API error, retrying: {error}", delay=delay) from None


def _runner_fingerprint(body: Mapping[str, Any]) -> str:
    return json.dumps((body.get("status") or {}).get("runner"), sort_keys=True, default=str)


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    """Register the account handlers; called once at startup with the loaded settings."""
    seen_reports: dict[tuple[str, str], str] = {}

    @kopf.on.resume(*ACCOUNTS, id="account_changed", registry=registry)
    @kopf.on.create(*ACCOUNTS, id="account_changed", registry=registry)
    @kopf.on.update(*ACCOUNTS, id="account_changed", registry=registry)
    async def account_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        await run_reconcile(memo["ctx"], body, apply_children=True, trigger="spec")

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
        **_: Any,
    ) -> None:
        ctx: Context = memo["ctx"]
        namespace = namespace or "default"
        ctx.phases.forget(namespace, name)
        parsed = WhatsAppAccountSpec.model_validate(dict(spec))
        if parsed.snapshot is None:
            return
        if parsed.deletion_policy.value == "Retain":
            kopf.event(
                body,
                type="Normal",
                reason="SnapshotsRetained",
                message="deletionPolicy Retain: snapshots kept",
            )
            return
        credentials = None
        creds_ref = parsed.snapshot.credentials_secret
        if creds_ref is not None:
            secret = await ctx.kube.get("v1", "Secret", namespace, creds_ref.name)
            if secret is None:
                raise kopf.TemporaryError(
                    f"spec.snapshot.credentialsSecret.name: Secret {creds_ref.name!r} not found; "
                    "snapshots not deleted yet",
                    delay=30,
                )
            credentials = _decode_pair(
                secret, creds_ref.access_key_id_key, creds_ref.secret_access_key_key
            )
        try:
            deleted = await delete_account_snapshots(parsed.snapshot, namespace, name, credentials)
        except (
            Exception
        ) as error:  # boto3 raises many types; retry them all, name none of the secrets
            raise kopf.TemporaryError(
                f"deleting snapshots failed ({type(error).__name__}); retrying", delay=30
            ) from None
        kopf.event(
            body,
            type="Normal",
            reason="SnapshotsDeleted",
            message=f"deletionPolicy Delete: removed {deleted} snapshot objects",
        )


def _decode_pair(secret: Mapping[str, Any], first: str, second: str) -> tuple[str, str] | None:
    import base64

    data = secret.get("data") or {}
    try:
        return (
            base64.b64decode(data[first]).decode(),
            base64.b64decode(data[second]).decode(),
        )
    except (KeyError, ValueError):
        return None
