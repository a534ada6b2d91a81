"""The finalizer's work for `deletionPolicy: Delete`: stop the runner, then delete its snapshots.

Order matters. The runner takes a final snapshot when its pod gets SIGTERM,
so deleting the prefix while the pod still runs leaves a full copy written
back afterwards. Each attempt therefore:

1. scales the StatefulSet to 0 (the suspended StatefulSet, applied as the
   reconcile path would) and stops while the pod `waa-<name>-0` exists, so its
   final snapshot has landed before anything is deleted;
2. reads the account's credentials Secret: the only identity deletion uses;
3. deletes the prefix if its owner.json names this account (snapshots.py).

Every step is retried through kopf's delays (never by sleeping in the
handler), with the budget of `deletion_policy`; when one is spent the
deletion is blocked and says so (Warning event, SnapshotsDeleted condition).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from session_runner.contract.annotations import (
    SKIP_SNAPSHOT_DELETION_ANNOTATION,
    skips_snapshot_deletion,
)
from wafleet_operator.api import DeletionPolicy, WhatsAppAccountSpec
from wafleet_operator.kube import KubeError
from wafleet_operator.reconcile import API_VERSION, KIND, Context, apply_child
from wafleet_operator.snapshots import (
    Credentials,
    ForeignStoreError,
    StoreError,
    delete_account_snapshots,
)
from wafleet_operator.specs.account import AccountRef
from wafleet_operator.specs.naming import child_name, pod_name
from wafleet_operator.specs.statefulset import build_statefulset
from wafleet_operator.validation import parse_spec

from .deletion_policy import (
    BLOCKED_POLL_SECONDS,
    RECORD_ANNOTATION,
    DeletionRecord,
    GiveUp,
    Obstacle,
    blocked_condition,
    blocked_message,
)

log = logging.getLogger(__name__)


class DeletionBlockedError(Exception):
    """One attempt stopped at `obstacle`; the message is safe for events and status."""

    def __init__(self, obstacle: Obstacle, detail: str) -> None:
        super().__init__(detail)
        self.obstacle = obstacle
        self.detail = detail


async def stop_runner(ctx: Context, account: AccountRef, spec: WhatsAppAccountSpec) -> None:
    """Scale the StatefulSet to 0; RUNNER_RUNNING while the pod still exists.

    The suspended StatefulSet is applied whole and the way the reconcile path
    applies it (`apply_child`: a partial apply under the same field manager would
    drop the rest, and one made by an older operator is recreated, not refused).
    """
    namespace = account.namespace
    statefulset = await ctx.kube.get("apps/v1", "StatefulSet", namespace, child_name(account.name))
    if statefulset is not None and (statefulset.get("spec") or {}).get("replicas") != 0:
        suspended = spec.model_copy(update={"suspended": True})
        await apply_child(ctx.kube, build_statefulset(account, suspended, ctx.settings))
    if await ctx.kube.get("v1", "Pod", namespace, pod_name(account.name)) is not None:
        raise DeletionBlockedError(
            Obstacle.RUNNER_RUNNING,
            f"pod {pod_name(account.name)} still exists; waiting for its final snapshot",
        )


def decode_credentials(
    secret: Mapping[str, Any], id_key: str, secret_key: str
) -> Credentials | None:
    """The two keys from the Secret's data, or None when one is missing or not base64 text."""
    data = secret.get("data") or {}
    try:
        return Credentials(
            base64.b64decode(data[id_key], validate=True).decode(),
            base64.b64decode(data[secret_key], validate=True).decode(),
        )
    except (KeyError, ValueError, binascii.Error, UnicodeDecodeError):
        return None


async def account_credentials(
    ctx: Context, namespace: str, spec: WhatsAppAccountSpec
) -> Credentials:
    """The account's own S3 keys, or DeletionBlockedError: the operator never uses its own."""
    assert spec.snapshot is not None
    ref = spec.snapshot.credentials_secret
    if ref is None:
        raise DeletionBlockedError(
            Obstacle.NO_CREDENTIALS,
            "spec.snapshot.credentialsSecret is not set: the operator deletes snapshots only "
            "with the account's own credentials Secret, never with its own identity",
        )
    secret = await ctx.kube.get("v1", "Secret", namespace, ref.name)
    if secret is None:
        raise DeletionBlockedError(
            Obstacle.CREDENTIALS_MISSING,
            f"spec.snapshot.credentialsSecret.name: Secret {ref.name!r} not found",
        )
    credentials = decode_credentials(secret, ref.access_key_id_key, ref.secret_access_key_key)
    if credentials is None:
        raise DeletionBlockedError(
            Obstacle.CREDENTIALS_MISSING,
            f"spec.snapshot.credentialsSecret: Secret {ref.name!r} lacks key "
            f"{ref.access_key_id_key!r} or {ref.secret_access_key_key!r}",
        )
    return credentials


async def attempt_deletion(ctx: Context, account: AccountRef, spec: WhatsAppAccountSpec) -> int:
    """One attempt of the whole sequence: the number of objects deleted, else raises."""
    assert spec.snapshot is not None
    try:
        await stop_runner(ctx, account, spec)
        credentials = await account_credentials(ctx, account.namespace, spec)
    except KubeError as error:
        raise DeletionBlockedError(
            Obstacle.UNAVAILABLE, f"Kubernetes API: {error.status} {error.reason}"
        ) from None
    try:
        return await delete_account_snapshots(
            spec.snapshot, account.namespace, account.name, account.uid, credentials
        )
    except ForeignStoreError as error:
        raise DeletionBlockedError(Obstacle.FOREIGN_OWNER, str(error)) from None
    except StoreError as error:
        obstacle = (
            Obstacle.CREDENTIALS_REFUSED if error.credentials_refused else Obstacle.UNAVAILABLE
        )
        raise DeletionBlockedError(obstacle, f"s3://{spec.snapshot.bucket}: {error}") from None


async def announce_blocked(ctx: Context, body: kopf.Body, obstacle: str, detail: str) -> None:
    """The Warning event and the SnapshotsDeleted condition of a blocked deletion.

    The reconcile path skips accounts being deleted, so this writes its own
    condition (a merge patch of `status.conditions`, the others kept).
    """
    message = blocked_message(obstacle, detail, SKIP_SNAPSHOT_DELETION_ANNOTATION)
    kopf.warn(body, reason="SnapshotDeletionBlocked", message=message)
    meta = body.metadata
    conditions = blocked_condition(
        message,
        datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        list((body.get("status") or {}).get("conditions") or []),
        int(meta.get("generation") or 1),
    )
    try:
        await ctx.kube.patch_status(
            API_VERSION, KIND, meta.namespace, meta.name, {"conditions": conditions}
        )
    except KubeError as error:  # the event already says it; the next poll does not repeat
        log.warning(
            "writing the SnapshotsDeleted condition of %s/%s failed: %s",
            meta.namespace,
            meta.name,
            error,
        )


async def delete_snapshots(
    ctx: Context, body: kopf.Body, spec: Mapping[str, Any], patch: kopf.Patch
) -> None:
    """The finalizer: returns when it may go, raises kopf.TemporaryError to be called again."""
    meta = body.metadata
    namespace, name = meta.namespace or "default", meta.name or ""
    parsed, _ = parse_spec(spec)
    raw_snapshot = spec.get("snapshot")
    if parsed is not None and parsed.snapshot is None:
        return
    if parsed is not None and parsed.deletion_policy is DeletionPolicy.RETAIN:
        kopf.event(
            body,
            type="Normal",
            reason="SnapshotsRetained",
            message="deletionPolicy Retain: snapshots kept",
        )
        return
    if parsed is None and (not raw_snapshot or spec.get("deletionPolicy") != "Delete"):
        return
    if skips_snapshot_deletion(meta.annotations):
        kopf.event(
            body,
            type="Normal",
            reason="SnapshotsLeft",
            message=f"{SKIP_SNAPSHOT_DELETION_ANNOTATION} is true: the account goes, "
            "its snapshots were left in the store",
        )
        return
    record = DeletionRecord.parse(meta.annotations.get(RECORD_ANNOTATION))
    if record.blocked:
        raise kopf.TemporaryError(
            f"snapshot deletion blocked ({record.blocked}) until "
            f"{SKIP_SNAPSHOT_DELETION_ANNOTATION} is set",
            delay=BLOCKED_POLL_SECONDS,
        )
    try:
        if parsed is None:
            raise DeletionBlockedError(
                Obstacle.INVALID_SPEC, "the spec cannot be read, so neither can the store"
            )
        account = AccountRef(
            name=name,
            namespace=namespace,
            uid=meta.uid or "",
            generation=int(meta.get("generation") or 1),
        )
        deleted = await attempt_deletion(ctx, account, parsed)
    except DeletionBlockedError as blocked:
        record, decision = record.after_failure(blocked.obstacle)
        patch.metadata.annotations[RECORD_ANNOTATION] = record.to_json()
        if isinstance(decision, GiveUp):
            await announce_blocked(ctx, body, blocked.obstacle.value, blocked.detail)
            raise kopf.TemporaryError(
                f"snapshot deletion blocked: {blocked.obstacle.value}: {blocked.detail}",
                delay=BLOCKED_POLL_SECONDS,
            ) from None
        raise kopf.TemporaryError(
            f"snapshots not deleted yet: {blocked.obstacle.value}: {blocked.detail}",
            delay=decision,
        ) from None
    kopf.event(
        body,
        type="Normal",
        reason="SnapshotsDeleted",
        message=f"deletionPolicy Delete: removed {deleted} snapshot objects",
    )
