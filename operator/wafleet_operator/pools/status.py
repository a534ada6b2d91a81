"""A SenderPool's status from what the operator observed. Pure.

Two conditions, as the pool's users read them with `kubectl get sp`:

- `Ready`: the pool can take messages — its spec is valid, its queues exist,
  and senders run whenever there is something to send (an idle pool scaled
  to zero is ready: the first message scales it up). A session pool is ready
  while its account is connected; otherwise `AccountNotConnected` says the
  messages wait in the queue.
- `Throttled`: a vendor asked the pool to slow down (a 429 or a quota code,
  which a sender records in the pool's shared rate limiter, read by the
  operator at every sync) and the time has not passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wafleet_operator.conditions import condition
from wafleet_operator.status import Problem

READY = "Ready"
THROTTLED = "Throttled"


@dataclass(frozen=True)
class PoolObserved:
    """Everything a pool's status depends on, gathered by the reconciler."""

    generation: int
    problems: tuple[Problem, ...] = ()
    #: Ensuring the pool's queues or subscription failed (the error, short, no secrets).
    queue_error: str | None = None
    #: A session pool: why its account cannot send now (None: it can, or not a session pool).
    account_problem: str | None = None
    queue_url: str | None = None
    dead_letter_queue_url: str | None = None
    visible: int | None = None
    in_flight: int | None = None
    ready_replicas: int = 0
    desired_replicas: int | None = None
    last_scale_time: str | None = None
    throttled_until: datetime | None = None
    throttle_reason: str | None = None
    previous_conditions: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class PoolVerdict:
    conditions: list[dict[str, Any]]
    patch: dict[str, Any]

    @property
    def ready(self) -> dict[str, Any]:
        return self.conditions[0]


def _ready(observed: PoolObserved) -> tuple[str, str, str]:
    if observed.problems:
        return "False", "InvalidSpec", "; ".join(str(p) for p in observed.problems)[:1000]
    if observed.queue_error is not None:
        return "False", "QueueUnavailable", observed.queue_error[:1000]
    if observed.account_problem is not None:
        return "False", "AccountNotConnected", observed.account_problem[:1000]
    desired = observed.desired_replicas or 0
    if desired > 0 and observed.ready_replicas == 0:
        return "False", "SendersStarting", f"0 of {desired} sender replica(s) ready"
    if desired == 0 and not observed.visible:
        return "True", "Idle", "no messages waiting; senders scaled to zero"
    return "True", "Sending", f"{observed.ready_replicas} of {desired} sender replica(s) ready"


def _throttled(observed: PoolObserved, now: datetime) -> tuple[str, str, str]:
    until = observed.throttled_until
    if until is not None and until > now:
        why = observed.throttle_reason or "the vendor asked the pool to slow down"
        return "True", "VendorThrottled", f"{why} (until {until:%Y-%m-%dT%H:%M:%SZ})"[:1000]
    return "False", "NotThrottled", "sending at the pool's rate limit"


def decide_pool_status(observed: PoolObserved, now: datetime) -> PoolVerdict:
    """Conditions and the status merge patch (None values clear stale fields)."""
    gen, prev = observed.generation, observed.previous_conditions
    conditions = [
        condition(READY, *_ready(observed), gen, now, prev),
        condition(THROTTLED, *_throttled(observed, now), gen, now, prev),
    ]
    depth = (
        None
        if observed.visible is None
        else {"visible": observed.visible, "inFlight": observed.in_flight or 0}
    )
    patch: dict[str, Any] = {
        "conditions": conditions,
        "observedGeneration": gen,
        "queueUrl": observed.queue_url,
        "deadLetterQueueUrl": observed.dead_letter_queue_url,
        "queueDepth": depth,
        "replicas": observed.ready_replicas,
        "desiredReplicas": observed.desired_replicas,
        "lastScaleTime": observed.last_scale_time,
        "throttledUntil": _throttled_until(observed, now),
        "throttleReason": observed.throttle_reason if _throttled_until(observed, now) else None,
    }
    return PoolVerdict(conditions, patch)


def _throttled_until(observed: PoolObserved, now: datetime) -> str | None:
    until = observed.throttled_until
    return f"{until:%Y-%m-%dT%H:%M:%SZ}" if until is not None and until > now else None
