"""Converge one SenderPool: the I/O shell around `validation`, `status` and the builders.

One pass, in the order the data flows: read the facts (the credentials
Secret's key names, the pools that route the same target, the account of a
session pool) → judge them (`pool_problems`) → with no problem, ensure the
queues and the subscription in AWS → read the queue's depth → decide the
replicas (`scaling`) → apply the Kubernetes children → write the status and
the events for what changed. A pool with a problem gets nothing created or
changed, only a condition and a Warning naming the field.

`sync` (the periodic trigger) skips the AWS ensure when the status already
holds the queue URLs, so a thousand idle pools cost one queue-depth read
each per interval, not ten calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from session_runner.contract.outbound import limiter_key
from session_runner.events.pipeline import ensure_events_pipeline, pipeline_names
from session_runner.sender.ledger import ensure_table
from session_runner.sender.ratelimit import PoolRateLimiter, RateLimitError
from wafleet_operator.api.sender_pool import ScalingProvider, SenderPoolSpec, Vendor
from wafleet_operator.conditions import find_condition
from wafleet_operator.metrics import INVALID_SPECS
from wafleet_operator.outbound import aws
from wafleet_operator.outbound.clients import OutboundClients, connect
from wafleet_operator.outbound.resources import queue_name
from wafleet_operator.reconcile import (
    Context,
    apply_child,
    as_body,
    counted,
    secret_facts,
    status_changed,
)
from wafleet_operator.scaling import ScaleReason, desired_replicas, scale_decision
from wafleet_operator.specs.naming import sender_child_name, sender_pool_name_problem
from wafleet_operator.specs.sender import (
    PoolRef,
    SenderWiring,
    build_sender_children,
    sender_image_problem,
)
from wafleet_operator.specs.sender.settings import status_callback_url
from wafleet_operator.status import Problem
from wafleet_operator.validation import problems_from_validation_error

from .session import account_not_sending, session_wiring, wiring_patch
from .status import PoolObserved, PoolVerdict, decide_pool_status
from .validation import TargetClaim, pool_problems

log = logging.getLogger(__name__)

API_VERSION = "wafleet.io/v1alpha1"
KIND = "SenderPool"


def outbound_clients(ctx: Context) -> OutboundClients:
    """The AWS clients, made on first use (an operator without pools never makes them)."""
    if ctx.outbound is None:
        ctx.outbound = connect(ctx.settings)
    return ctx.outbound


def aws_error_text(error: Exception) -> str:
    """A short, secret-free description of an AWS failure for a condition."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'error')}: {str(details.get('Message', ''))[:200]}"
    if isinstance(error, aws.ForeignQueueError):
        return str(error)
    return type(error).__name__


@dataclass(frozen=True)
class PoolFacts:
    """What a pool's validity and a session pool's wiring depend on, read from the API."""

    secret_keys: frozenset[str] | None = None  # the credentials Secret's keys; None: no Secret
    aws_secret_keys: frozenset[str] | None = None  # the same for spec.awsCredentialsSecret
    target_claims: tuple[TargetClaim, ...] = ()  # live pools routing the same target
    account: Mapping[str, Any] | None = None  # a session pool's account, when it exists
    account_claims: tuple[TargetClaim, ...] = ()  # live session pools naming that account


async def _facts(ctx: Context, body: Mapping[str, Any], spec: SenderPoolSpec) -> PoolFacts:
    namespace = body["metadata"]["namespace"]
    # Both Secrets by name (one read if they are the same Secret); key names only.
    refs = (spec.credentials_secret, spec.aws_credentials_secret)
    names = {ref.name for ref in refs if ref is not None}
    keys = (await secret_facts(ctx.kube, namespace, names, None)).keys
    secret_keys = keys.get(spec.credentials_secret.name) if spec.credentials_secret else None
    aws_ref = spec.aws_credentials_secret
    aws_secret_keys = keys.get(aws_ref.name) if aws_ref else None
    # The pools this operator serves: all namespaces, or the ones it watches (where its
    # Role lets it list). Pools of another operator sharing the topic are not seen.
    scopes: list[str | None] = list(ctx.settings.namespaces) or [None]
    pools = [
        pool
        for scope in scopes
        for pool in await ctx.kube.list(API_VERSION, KIND, scope)
        if not pool["metadata"].get("deletionTimestamp")
    ]
    claims = tuple(
        _claim(pool) for pool in pools if (pool.get("spec") or {}).get("target") == spec.target
    )
    account: Mapping[str, Any] | None = None
    account_claims: tuple[TargetClaim, ...] = ()
    if spec.account_ref is not None:
        account_name = spec.account_ref.name
        account = await ctx.kube.get(API_VERSION, "WhatsAppAccount", namespace, account_name)
        account_claims = tuple(
            _claim(pool)
            for pool in pools
            if pool["metadata"]["namespace"] == namespace
            and ((pool.get("spec") or {}).get("accountRef") or {}).get("name") == account_name
        )
    return PoolFacts(secret_keys, aws_secret_keys, claims, account, account_claims)


def _claim(pool: Mapping[str, Any]) -> TargetClaim:
    meta = pool["metadata"]
    return TargetClaim(str(meta.get("creationTimestamp") or ""), meta["namespace"], meta["name"])


def parse_pool_spec(raw: Mapping[str, Any]) -> tuple[SenderPoolSpec | None, list[Problem]]:
    try:
        return SenderPoolSpec.model_validate(raw), []
    except ValidationError as error:
        return None, problems_from_validation_error(error)


async def find_pool_problems(
    ctx: Context, body: Mapping[str, Any]
) -> tuple[SenderPoolSpec | None, PoolFacts, list[Problem]]:
    spec, problems = parse_pool_spec(body.get("spec") or {})
    if spec is None:
        return None, PoolFacts(), problems
    facts = await _facts(ctx, body, spec)
    return (
        spec,
        facts,
        pool_problems(
            _claim(body),
            spec,
            secret_keys=facts.secret_keys,
            aws_secret_keys=facts.aws_secret_keys,
            target_claims=facts.target_claims,
            account_exists=None if spec.account_ref is None else facts.account is not None,
            image_problem=sender_image_problem(spec, ctx.settings),
            name_problem=sender_pool_name_problem(body["metadata"]["name"]),
            account_claims=facts.account_claims,
        ),
    )


async def reconcile_pool(
    ctx: Context, body: Mapping[str, Any], *, trigger: str, ensure_queues: bool = True
) -> PoolVerdict | None:
    """Converge one pool. Raises KubeError for API failures (the caller's retry applies);
    AWS failures become the `Ready` condition's `QueueUnavailable`, retried next sync."""
    async with counted(f"pool-{trigger}"):
        return await _converge(ctx, body, ensure_queues=ensure_queues)


async def _converge(
    ctx: Context, body: Mapping[str, Any], *, ensure_queues: bool
) -> PoolVerdict | None:
    meta = body["metadata"]
    if meta.get("deletionTimestamp"):
        return None
    namespace, name = meta["namespace"], meta["name"]
    status: Mapping[str, Any] = body.get("status") or {}
    generation = int(meta.get("generation") or 1)
    previous = tuple(status.get("conditions") or ())
    spec, facts, problems = await find_pool_problems(ctx, body)
    if spec is None or problems:
        verdict = decide_pool_status(
            PoolObserved(generation, problems=tuple(problems), previous_conditions=previous), _now()
        )
        await _write_status(ctx, body, verdict, problems)
        return verdict

    queue_url = status.get("queueUrl")
    dlq_url = status.get("deadLetterQueueUrl")
    queue_error: str | None = None
    clients = outbound_clients(ctx)
    try:
        if ensure_queues or not (queue_url and dlq_url):
            queues = await asyncio.to_thread(_ensure_queues, ctx, clients, meta, spec)
            queue_url, dlq_url = queues.queue_url, queues.dead_letter_queue_url
        elif ctx.events_topic_arn is None:  # an operator restarted: only the ARN is missing
            await asyncio.to_thread(_ensure_events, ctx, clients)
        depth = await asyncio.to_thread(aws.queue_depth, clients.sqs, queue_url)
        limiter = await PoolRateLimiter(
            clients.dynamodb,
            ctx.settings.outbound_ledger_table,
            limiter_key(namespace, name),
            spec.rate_limit_per_second,
        ).state()
    except (ClientError, BotoCoreError, aws.ForeignQueueError, RateLimitError) as error:
        queue_error = aws_error_text(error)
        log.warning("SenderPool %s/%s: queues unavailable: %s", namespace, name, queue_error)
        verdict = decide_pool_status(
            PoolObserved(generation, queue_error=queue_error, previous_conditions=previous), _now()
        )
        await _write_status(ctx, body, verdict, [])
        return verdict

    now = _now()
    account_problem: str | None = None
    replicas: int | None
    if spec.vendor is Vendor.SESSION:
        assert facts.account is not None  # pool_problems: a session pool's account exists
        account_problem = await _hand_to_account(
            ctx, meta["name"], spec, facts.account, str(queue_url), str(dlq_url)
        )
        replicas, decision_reason = 1, None
        ready_replicas = 0 if account_problem else 1
    else:
        replicas, decision_reason = _replicas(ctx, body, spec, depth, now)
        deployment = await _apply_senders(
            ctx, meta, spec, str(queue_url), str(dlq_url), replicas, ensure_queues=ensure_queues
        )
        ready_replicas = int((deployment.get("status") or {}).get("readyReplicas") or 0)
        if replicas is None:
            replicas = (deployment.get("spec") or {}).get("replicas")

    scaled = decision_reason in (ScaleReason.SCALE_UP, ScaleReason.SCALE_DOWN)
    last_scale = _format(now) if scaled else status.get("lastScaleTime")
    observed = PoolObserved(
        generation,
        queue_url=str(queue_url),
        dead_letter_queue_url=str(dlq_url),
        visible=depth.visible,
        in_flight=depth.in_flight,
        account_problem=account_problem,
        ready_replicas=ready_replicas,
        desired_replicas=replicas,
        last_scale_time=last_scale,
        throttled_until=datetime.fromtimestamp(limiter.throttled_until, UTC)
        if limiter.throttled_until
        else None,
        throttle_reason=limiter.throttle_reason,
        previous_conditions=previous,
    )
    verdict = decide_pool_status(observed, now)
    await _write_status(ctx, body, verdict, [])
    if scaled:
        kopf.event(
            as_body(body),
            type="Normal",
            reason=str(decision_reason),
            message=f"senders scaled to {replicas} "
            f"(queue: {depth.visible} waiting, {depth.in_flight} in flight)",
        )
    return verdict


async def _apply_senders(
    ctx: Context,
    meta: Mapping[str, Any],
    spec: SenderPoolSpec,
    queue_url: str,
    dlq_url: str,
    replicas: int | None,
    *,
    ensure_queues: bool,
) -> Mapping[str, Any]:
    """Apply the sender Deployment and its companions; the Deployment as the server has it."""
    wiring = SenderWiring(
        queue_url=queue_url,
        dead_letter_queue_url=dlq_url,
        ledger_table=ctx.settings.outbound_ledger_table,
        aws_region=ctx.settings.aws_region,
        aws_endpoint_url=ctx.settings.aws_endpoint_url,
        vendor_base_url=ctx.settings.vendor_base_url(spec.vendor),
        status_callback_url=status_callback_url(
            ctx.settings.ingest_public_base_url, spec.vendor, meta["namespace"], meta["name"]
        ),
    )
    deployment: Mapping[str, Any] = {}
    pool = PoolRef.from_metadata(meta)
    for child in build_sender_children(pool, spec, ctx.settings, wiring, replicas=replicas):
        applied = await apply_child(ctx.kube, child)
        if child["kind"] == "Deployment":
            deployment = applied
    if ensure_queues and spec.scaling.provider is ScalingProvider.OPERATOR:
        # A spec change may have switched from KEDA: its ScaledObject would fight us.
        await ctx.kube.delete(
            "keda.sh/v1alpha1", "ScaledObject", meta["namespace"], sender_child_name(meta["name"])
        )
    return deployment


async def _hand_to_account(
    ctx: Context,
    pool: str,
    spec: SenderPoolSpec,
    account: Mapping[str, Any],
    queue_url: str,
    dlq_url: str,
) -> str | None:
    """Annotate the account with the pool's wiring (its runner consumes the queue); return
    why the account cannot send now, if it cannot."""
    wanted = session_wiring(
        pool,
        spec,
        ctx.settings,
        queue_url=queue_url,
        dead_letter_queue_url=dlq_url,
        events_topic_arn=ctx.events_topic_arn,
    )
    account_meta = account["metadata"]
    patch = wiring_patch(account_meta.get("annotations") or {}, pool, wanted)
    if patch is not None:  # one key the operator alone writes: no resourceVersion guard
        await ctx.kube.annotate(
            API_VERSION, "WhatsAppAccount", account_meta["namespace"], account_meta["name"], patch
        )
    return account_not_sending(account)


def _ensure_events(ctx: Context, clients: OutboundClients) -> None:
    """The events topic, the dispatcher's queue and its retry queue, once per operator
    process: session pools' runners publish their engines' acks and inbound messages there."""
    if ctx.events_topic_arn is None:
        names = pipeline_names(ctx.settings.outbound_queue_prefix)
        pipeline = ensure_events_pipeline(
            clients.sns, clients.sqs, names.topic, names.queue, names.retries
        )
        ctx.events_topic_arn = pipeline.topic_arn


def _ensure_queues(
    ctx: Context, clients: OutboundClients, meta: Mapping[str, Any], spec: SenderPoolSpec
) -> aws.PoolQueues:
    topic = aws.ensure_topic(clients.sns, ctx.settings.outbound_topic)
    ensure_table(clients.dynamodb, ctx.settings.outbound_ledger_table)
    _ensure_events(ctx, clients)
    return aws.ensure_pool_queues(
        clients.sqs,
        clients.sns,
        topic_arn=topic,
        name=queue_name(ctx.settings.outbound_queue_prefix, meta["namespace"], meta["name"]),
        uid=meta["uid"],
        pool=f"{meta['namespace']}/{meta['name']}",
        target=spec.target,
        settings=aws.QueueSettings(
            max_receive_count=spec.queue.max_receive_count,
            visibility_timeout_s=spec.queue.visibility_timeout_seconds,
            retention_s=spec.queue.message_retention_seconds,
        ),
    )


def _replicas(
    ctx: Context,
    body: Mapping[str, Any],
    spec: SenderPoolSpec,
    depth: aws.QueueDepth,
    now: datetime,
) -> tuple[int | None, ScaleReason | None]:
    """The replicas to render (None: KEDA owns them) and why they changed, if they did."""
    if spec.scaling.provider is ScalingProvider.KEDA:
        return None, None
    bounds = {"min_replicas": spec.replicas.min, "max_replicas": spec.replicas.max}
    wanted = desired_replicas(
        depth.visible, depth.in_flight, backlog_per_replica=spec.backlog_per_replica, **bounds
    )
    key = (body["metadata"]["namespace"], body["metadata"]["name"])
    window = spec.scaling.stabilization_window_seconds
    history = [
        (at, n) for at, n in ctx.scale_history.get(key, []) if at > now - timedelta(seconds=window)
    ]
    history.append((now, wanted))
    ctx.scale_history[key] = history
    status = body.get("status") or {}
    current = status.get("desiredReplicas")
    if current is None:  # a new pool: start where the queue says, no window to honour
        return wanted, ScaleReason.SCALE_UP if wanted else None
    decision = scale_decision(
        int(current),
        wanted,
        now,
        _parse(status.get("lastScaleTime")),
        history,
        window,
        **bounds,
    )
    return decision.replicas, decision.reason if decision.changed else None


async def _write_status(
    ctx: Context, body: Mapping[str, Any], verdict: PoolVerdict, problems: list[Problem]
) -> None:
    meta = body["metadata"]
    old: Mapping[str, Any] = body.get("status") or {}
    if not status_changed(old, verdict.patch):
        return
    await ctx.kube.patch_status(API_VERSION, KIND, meta["namespace"], meta["name"], verdict.patch)
    _announce(body, old, verdict, problems)


def _announce(
    body: Mapping[str, Any], old: Mapping[str, Any], verdict: PoolVerdict, problems: list[Problem]
) -> None:
    """Warning events on the transitions a user must act on; Normal when they are over."""
    before = find_condition(old.get("conditions"), "Ready")
    ready = verdict.ready
    if ready["status"] == "False" and ready["reason"] in ("InvalidSpec", "QueueUnavailable"):
        if before.get("message") != ready["message"]:
            for problem in problems:
                INVALID_SPECS.labels(field=problem.field).inc()
            kopf.warn(as_body(body), reason=ready["reason"], message=ready["message"])
    elif before.get("reason") in ("InvalidSpec", "QueueUnavailable"):
        kopf.event(as_body(body), type="Normal", reason="Recovered", message=ready["message"])
    throttled = find_condition(verdict.conditions, "Throttled")
    if (
        throttled.get("status") == "True"
        and find_condition(old.get("conditions"), "Throttled").get("status") != "True"
    ):
        kopf.warn(as_body(body), reason="Throttled", message=str(throttled.get("message")))


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _format(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
