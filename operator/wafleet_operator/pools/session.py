"""A session pool: its queue is consumed by the account's runner, not by sender replicas. Pure.

The operator creates the queues as for any pool, then hands them to the
account's runner by annotating the account (`contract.session_outbound`).
These functions decide the wiring, the annotation change (never touching a
wiring another pool wrote), and what the account's phase means for the pool.
"""

from __future__ import annotations

from collections.abc import Mapping

from session_runner.contract.session_outbound import (
    OUTBOUND_ANNOTATION,
    SessionOutboundWiring,
    wiring_from_annotations,
)
from wafleet_operator.api.sender_pool import SenderPoolSpec
from wafleet_operator.config import OperatorSettings

#: The account phase in which its runner consumes the pool's queue.
SENDING_PHASE = "Connected"


def session_wiring(
    pool: str,
    spec: SenderPoolSpec,
    settings: OperatorSettings,
    *,
    queue_url: str,
    dead_letter_queue_url: str,
    events_topic_arn: str | None = None,
) -> SessionOutboundWiring:
    """What the account's runner is told: the pool's queues, ledger, limit and sizes, and
    the events topic its engine's acks and inbound messages go to."""
    return SessionOutboundWiring(
        pool=pool,
        queue_url=queue_url,
        dead_letter_queue_url=dead_letter_queue_url,
        ledger_table=settings.outbound_ledger_table,
        aws_region=settings.aws_region,
        aws_endpoint_url=settings.aws_endpoint_url,
        rate_limit_per_second=spec.rate_limit_per_second,
        concurrency=spec.concurrency,
        max_receive_count=spec.queue.max_receive_count,
        visibility_timeout_seconds=spec.queue.visibility_timeout_seconds,
        events_topic_arn=events_topic_arn,
    )


def wiring_patch(
    annotations: Mapping[str, str], pool: str, wanted: SessionOutboundWiring | None
) -> dict[str, str | None] | None:
    """The annotation change that makes the account carry `wanted` (None: this pool's
    wiring removed), or None when nothing is to change.

    A removal only removes this pool's wiring: a value naming another pool (or one
    that does not parse, which a person must look at) is left alone.
    """
    current = annotations.get(OUTBOUND_ANNOTATION)
    if wanted is None:
        if current is None:
            return None
        wiring, _ = wiring_from_annotations(annotations)
        if wiring is None or wiring.pool != pool:
            return None
        return {OUTBOUND_ANNOTATION: None}
    value = wanted.to_annotation()
    return None if current == value else {OUTBOUND_ANNOTATION: value}


def account_not_sending(account: Mapping[str, object]) -> str | None:
    """Why the account cannot send the pool's messages now, or None when it can."""
    meta = account.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else "?"
    status = account.get("status")
    phase = status.get("phase") if isinstance(status, Mapping) else None
    if phase == SENDING_PHASE:
        return None
    shown = phase or "not started"
    return f"WhatsAppAccount {name} is {shown}: messages stay queued until it is {SENDING_PHASE}"
