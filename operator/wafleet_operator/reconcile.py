"""The I/O shell around the pure parts: one account in, children applied, status out.

Every trigger ends here — the account's own create/update/resume, a runner
report, a child drifting or vanishing, the periodic resync — so the operator
is level-triggered: it always converges on what the spec says now, whatever
event woke it. The decisions (what is wrong with the spec, what the children
look like, what the status says) are pure functions in validation, specs and
status; this module only gathers facts and writes results.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from session_runner.contract.annotations import is_fenced
from wafleet_operator.api import WhatsAppAccountSpec
from wafleet_operator.config import OperatorSettings
from wafleet_operator.kube import APIConflictError, APIUnprocessableError, Kube, KubeError
from wafleet_operator.metrics import INVALID_SPECS, RECONCILE_SECONDS, RECONCILES, PhaseBook
from wafleet_operator.outbound.clients import OutboundClients
from wafleet_operator.specs import build_children
from wafleet_operator.specs.account import AccountRef
from wafleet_operator.status import (
    Observed,
    Problem,
    Verdict,
    decide_status,
    lease_is_free,
    restore_consumed_event,
    snapshot_event,
)
from wafleet_operator.validation import find_problems, kek_problems, parse_spec, secret_needs

API_VERSION = "wafleet.io/v1alpha1"
KIND = "WhatsAppAccount"


@dataclass
class Context:
    """What every reconciliation needs, created once at startup."""

    kube: Kube
    settings: OperatorSettings
    phases: PhaseBook
    #: SenderPools' AWS clients (SQS, SNS); None until a pool needs them.
    outbound: OutboundClients | None = None
    #: The events topic's ARN once ensured (with the dispatcher's queue); None until then.
    events_topic_arn: str | None = None
    #: Each pool's recent scale recommendations, for the scale-down stabilisation window.
    scale_history: dict[tuple[str, str], list[tuple[datetime, int]]] = field(default_factory=dict)


@dataclass(frozen=True)
class SecretFacts:
    """All the operator keeps of the Secrets an account names: which keys exist, and
    which keys of the encryption-key Secret hold no key-encryption key (and why, by
    length). Values are read, judged and dropped inside :func:`secret_facts`."""

    keys: dict[str, frozenset[str]]
    bad_keks: dict[str, str]


async def secret_facts(
    kube: Kube, namespace: str, names: set[str], kek: tuple[str, str] | None
) -> SecretFacts:
    """Key names of the Secrets that exist, and the verdict on the KEK Secret ``kek``
    (its name and key) when set; no value outlives this call or reaches a message."""
    keys: dict[str, frozenset[str]] = {}
    bad_keks: dict[str, str] = {}
    for name in sorted(names):
        secret = await kube.get("v1", "Secret", namespace, name)
        if secret is None:
            continue
        data: Mapping[str, str] = secret.get("data") or {}
        keys[name] = frozenset(data) | frozenset(secret.get("stringData") or {})
        if kek is not None and kek[0] == name and kek[1] in data:
            bad_keks = kek_problems(data, kek[1])
    return SecretFacts(keys, bad_keks)


async def find_all_problems(
    kube: Kube,
    name: str,
    namespace: str,
    spec: Mapping[str, Any],
    settings: OperatorSettings,
) -> tuple[WhatsAppAccountSpec | None, list[Problem]]:
    parsed, problems = parse_spec(spec)
    if parsed is None:
        return None, problems
    needs = secret_needs(parsed)
    kek = None
    if parsed.snapshot is not None:
        ref = parsed.snapshot.encryption_key_secret
        kek = (ref.name, ref.key)
    facts = await secret_facts(kube, namespace, {need.secret for need in needs}, kek)
    return parsed, find_problems(
        name,
        parsed,
        facts.keys,
        allowed_images=settings.allowed_runner_images,
        bad_keks=facts.bad_keks,
    )


def highest_token(reported: int | None, lease: Mapping[str, Any] | None) -> int | None:
    """The token a runner report must reach: the highest accepted so far, or the Lease's
    current leaseTransitions, whichever is higher.

    The Lease knows about a takeover before the new holder's first report lands; without
    it, a runner that lost the lease could report in that gap and be believed.
    """
    transitions = ((lease or {}).get("spec") or {}).get("leaseTransitions")
    candidates = [t for t in (reported, transitions) if isinstance(t, int)]
    return max(candidates) if candidates else None


def _statefulset_facts(statefulset: Mapping[str, Any] | None) -> tuple[bool, int]:
    if statefulset is None:
        return False, 0
    ready = (statefulset.get("status") or {}).get("readyReplicas") or 0
    return True, int(ready)


def status_changed(current: Mapping[str, Any], patch: Mapping[str, Any]) -> bool:
    """Whether writing `patch` would change any field of the `current` status."""
    return any(current.get(key) != value for key, value in patch.items())


#: How long `apply_child` waits for a StatefulSet it deleted to be gone (50 x 0.2 s).
RECREATE_POLLS, RECREATE_POLL_S = 50, 0.2


def must_recreate(kind: str, error: KubeError) -> bool:
    """Whether an apply was refused because it changes a field fixed at creation.

    A StatefulSet's spec is immutable but for replicas, template, updateStrategy,
    minReadySeconds, ordinals and its PVC retention policy; an operator upgrade that
    changes another (podManagementPolicy) is refused with 422 Forbidden forever.
    """
    return (
        kind == "StatefulSet"
        and isinstance(error, APIUnprocessableError)
        and "updates to statefulset spec for fields other than" in error.message
    )


async def apply_child(kube: Kube, child: dict[str, Any]) -> dict[str, Any]:
    """Apply one child; a StatefulSet whose fixed fields changed is recreated in place.

    Deleted with propagation Orphan, so its pod keeps running (the session is not
    interrupted) and the new StatefulSet, with the same selector, adopts it and
    rolls it to the new template as it would for any template change.
    """
    try:
        return await kube.apply(child)
    except KubeError as error:
        if not must_recreate(child["kind"], error):
            raise
    api_version, kind, meta = child["apiVersion"], child["kind"], child["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    await kube.delete(api_version, kind, namespace, name, propagation="Orphan")
    # The garbage collector orphans the pod, then removes the object (it holds the orphan
    # finalizer until then); applying before it is gone is refused the same way.
    for _ in range(RECREATE_POLLS):
        if await kube.get(api_version, kind, namespace, name) is None:
            return await kube.apply(child)
        await asyncio.sleep(RECREATE_POLL_S)
    raise APIConflictError(409, "Conflict", f"{kind} {name} is still being deleted; retrying")


@asynccontextmanager
async def counted(trigger: str) -> AsyncIterator[None]:
    """Count and time one reconciliation by trigger and result.

    The one place ``wafleet_reconciles_total`` is counted: both entry points
    below use it and every trigger goes through one of them, so a failure is
    counted whichever path hit it — kopf's handler, a runner report, drift, a
    Secret or the resync — not only where a caller happens to count. Any
    exception is an error; cancellation (shutdown) is neither result.
    """
    started = time.perf_counter()
    try:
        yield
    except Exception:
        RECONCILES.labels(trigger=trigger, result="error").inc()
        raise
    finally:
        RECONCILE_SECONDS.labels(trigger=trigger).observe(time.perf_counter() - started)
    RECONCILES.labels(trigger=trigger, result="ok").inc()


#: How often one reconciliation starts again from a fresh read when its account
#: changed under it; past that the conflict is the caller's (its retry policy applies).
STALE_ATTEMPTS = 5


class _StaleAccountError(Exception):
    """The account changed since it was read: its status write was refused (409)."""


async def reconcile(
    ctx: Context, body: Mapping[str, Any], *, apply_children: bool, trigger: str
) -> Verdict | None:
    """Converge one account: validate, apply children (when asked), write status and events.

    Raises KubeError for API failures so the caller's retry policy applies.
    Returns the verdict written, or None for an account being deleted.
    """
    async with counted(trigger):
        return await _converge_fresh(ctx, body, apply_children=apply_children)


async def reconcile_by_name(
    ctx: Context, namespace: str, name: str, *, trigger: str
) -> Verdict | None:
    """Read the account, then converge it, for triggers that only know its name
    (a child or a Secret changed). Counted as one reconciliation, the read
    included: an API error reading the account is that reconciliation's error.

    Returns None when the account is gone or being deleted.
    """
    async with counted(trigger):
        body = await ctx.kube.get(API_VERSION, KIND, namespace, name)
        if body is None:
            return None
        return await _converge_fresh(ctx, body, apply_children=True)


async def _converge_fresh(
    ctx: Context, body: Mapping[str, Any], *, apply_children: bool
) -> Verdict | None:
    """Converge from `body`; if the account changed before the status was written, read
    it again and converge from that.

    Triggers run concurrently (the account's own update, its Secrets, its children —
    on a real cluster the StatefulSet controller writes the StatefulSet's status every
    few moments), each from the account as it read it. The status write is conditional
    on that read's resourceVersion, so only a reconciliation that saw the current
    status writes the next one and announces the transition; the others start again
    from the account as it is now and find nothing left to say. Without the condition
    each of them announced the same transition (three InvalidSpec warnings for one
    edit) and a stale one could write an older runner report's verdict over a newer one.
    """
    for _ in range(STALE_ATTEMPTS):
        try:
            return await _converge(ctx, body, apply_children=apply_children)
        except _StaleAccountError:
            pass
        meta = body["metadata"]
        fresh = await ctx.kube.get(API_VERSION, KIND, meta["namespace"], meta["name"])
        if fresh is None:
            return None
        body = fresh
    raise APIConflictError(409, "Conflict", "the account kept changing while it was reconciled")


async def _converge(
    ctx: Context, body: Mapping[str, Any], *, apply_children: bool
) -> Verdict | None:
    meta = body["metadata"]
    if meta.get("deletionTimestamp"):
        return None
    name, namespace = meta["name"], meta["namespace"]
    status: Mapping[str, Any] = body.get("status") or {}
    parsed, problems = await find_all_problems(
        ctx.kube, name, namespace, body.get("spec") or {}, ctx.settings
    )

    statefulset: Mapping[str, Any] | None = None
    lease: Mapping[str, Any] | None = None
    if not problems and parsed is not None and apply_children:
        account = AccountRef(
            name=name,
            namespace=namespace,
            uid=meta["uid"],
            generation=int(meta.get("generation") or 1),
        )
        for child in build_children(account, parsed, ctx.settings):
            applied = await apply_child(ctx.kube, child)
            if child["kind"] == "StatefulSet":
                statefulset = applied
            elif child["kind"] == "Lease":
                lease = applied
    elif not problems:
        statefulset = await ctx.kube.get("apps/v1", "StatefulSet", namespace, f"waa-{name}")
        lease = await ctx.kube.get("coordination.k8s.io/v1", "Lease", namespace, f"waa-{name}")

    exists, ready = _statefulset_facts(statefulset)
    now = datetime.now(UTC)
    verdict = decide_status(
        Observed(
            generation=int(meta.get("generation") or 1),
            suspended=bool(parsed.suspended) if parsed else False,
            fenced=is_fenced(meta.get("annotations") or {}),
            snapshots_configured=bool(parsed and parsed.snapshot),
            problems=tuple(problems),
            statefulset_exists=exists,
            ready_replicas=ready,
            runner=status.get("runner"),
            accepted_token=highest_token(status.get("fencingToken"), lease),
            previous_conditions=tuple(status.get("conditions") or ()),
            lease_free=lease_is_free(lease, now),
            restore_from=parsed.restore_from if parsed else None,
            restore_request=status.get("restoreRequest"),
        ),
        now,
    )
    patch = verdict.as_status_patch()
    if status_changed(status, patch):
        try:
            await ctx.kube.patch_status(
                API_VERSION,
                KIND,
                namespace,
                name,
                patch,
                resource_version=meta.get("resourceVersion"),
            )
        except APIConflictError:
            raise _StaleAccountError() from None
        announce(body, status, verdict, problems)
    ctx.phases.set(namespace, name, verdict.phase)
    return verdict


def as_body(raw: Mapping[str, Any]) -> kopf.Body:
    """kopf's event helpers want its Body; objects read through Kube are plain dicts."""
    return raw if isinstance(raw, kopf.Body) else kopf.Body(dict(raw))  # type: ignore[arg-type]


def announce(
    body: Mapping[str, Any], old: Mapping[str, Any], verdict: Verdict, problems: list[Problem]
) -> None:
    """Events for the transitions a user cares about (kubectl describe waa shows them)."""
    ready = verdict.conditions[0]
    old_ready: Mapping[str, Any] = next(
        (c for c in old.get("conditions") or () if c.get("type") == "Ready"), {}
    )
    if problems:
        if old_ready.get("message") != ready["message"]:
            for problem in problems:
                INVALID_SPECS.labels(field=problem.field).inc()
            kopf.warn(as_body(body), reason="InvalidSpec", message=ready["message"])
        return
    if old.get("phase") != verdict.phase:
        message = f"phase {old.get('phase') or 'none'} -> {verdict.phase}: {ready['message']}"
        if verdict.phase in ("Failed", "Fenced"):
            kopf.warn(as_body(body), reason=verdict.phase, message=message)
        else:
            kopf.event(as_body(body), type="Normal", reason=verdict.phase, message=message)
    old_snapshot = next(
        (c for c in old.get("conditions") or () if c.get("type") == "SnapshotHealthy"), None
    )
    new_snapshot = next(c for c in verdict.conditions if c["type"] == "SnapshotHealthy")
    event = snapshot_event(old_snapshot, new_snapshot)
    if event is not None:
        if event.type == "Warning":
            kopf.warn(as_body(body), reason=event.reason, message=event.message)
        else:
            kopf.event(as_body(body), type=event.type, reason=event.reason, message=event.message)
    consumed = restore_consumed_event(old.get("restoreRequest"), verdict.restore_request)
    if consumed is not None:
        kopf.event(as_body(body), type="Normal", reason=consumed.reason, message=consumed.message)
    if old_ready.get("reason") == "InvalidSpec":
        kopf.event(
            as_body(body),
            type="Normal",
            reason="SpecValid",
            message="the spec is valid again; reconciling",
        )


__all__ = ["Context", "KubeError", "counted", "is_fenced", "reconcile", "reconcile_by_name"]
