"""Pure: how many senders a pool's queue wants, and when the replicas may follow.

Nothing here reads a clock or the queue: the operator's scaler (the thin shell
around these functions) passes the queue depth it read, the time, and the
recommendations it made recently. KEDA-scaled pools get the same numbers from
KEDA and the HPA (``specs.sender.keda``); these functions are what the
operator does when it scales a pool itself (``spec.scaling.provider: operator``).

The rule is the HorizontalPodAutoscaler's (``behavior`` with its defaults for
scale-up, and ``scaleDown.stabilizationWindowSeconds``): scale up at once,
scale down only to the highest replica count recommended within the
stabilization window, so a queue that empties between two bursts does not
kill the senders the next burst needs. Without the HPA's 10 % tolerance: the
recommendation is already a coarse ceiling of messages per replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class ScaleReason(StrEnum):
    """Why the replicas are what :func:`scale_decision` says (CamelCase: an Event's reason)."""

    SCALE_UP = "ScaleUp"  # more messages than the replicas are meant to hold
    SCALE_DOWN = "ScaleDown"  # fewer, for a whole stabilization window
    STABILIZING = "Stabilizing"  # fewer now, but not for the whole window yet: held
    STEADY = "Steady"  # the replicas are what the queue wants
    BELOW_MIN = "BelowMin"  # the bounds were raised above the replicas: up at once
    ABOVE_MAX = "AboveMax"  # the bounds were lowered below the replicas: down at once


@dataclass(frozen=True, slots=True)
class ScaleDecision:
    """The replicas the pool should run, whether that differs from now, and why."""

    replicas: int
    changed: bool
    reason: ScaleReason


def _check_bounds(min_replicas: int, max_replicas: int) -> None:
    if not 0 <= min_replicas <= max_replicas:
        raise ValueError(f"need 0 <= min <= max, got min {min_replicas} and max {max_replicas}")


def _clamp(value: int, min_replicas: int, max_replicas: int) -> int:
    return min(max(value, min_replicas), max_replicas)


def desired_replicas(
    visible: int,
    in_flight: int,
    *,
    backlog_per_replica: int,
    min_replicas: int,
    max_replicas: int,
) -> int:
    """ceil((visible + in_flight) / backlog_per_replica), within [min, max].

    In-flight messages count (KEDA's ``scaleOnInFlight``): a replica in the middle of
    sending them is busy, and scaling it away would hand its messages to another
    after the visibility timeout. Activation from zero needs no rule of its own: one
    message in a pool whose minimum is 0 is a ceiling of at least 1 (KEDA's
    ``activationQueueLength: 0``), so a message never waits for a sender that is
    not coming.
    """
    if backlog_per_replica < 1:
        raise ValueError(f"backlog_per_replica must be at least 1, got {backlog_per_replica}")
    if visible < 0 or in_flight < 0:
        raise ValueError(f"queue depths are never negative, got {visible} and {in_flight}")
    _check_bounds(min_replicas, max_replicas)
    backlog = visible + in_flight
    wanted = -(-backlog // backlog_per_replica)  # ceiling division, exact for any size
    return _clamp(wanted, min_replicas, max_replicas)


def scale_decision(
    current: int,
    desired: int,
    now: datetime,
    last_scale_time: datetime | None,
    recent_desired: Sequence[tuple[datetime, int]],
    stabilization_s: float = 300,
    *,
    min_replicas: int,
    max_replicas: int,
) -> ScaleDecision:
    """The replicas to run now, by the HPA's rule.

    - Up at once to ``desired`` (the HPA's default scale-up has no window).
    - Down only to the highest recommendation seen within the last ``stabilization_s``
      seconds (``recent_desired``: the scaler's recommendations with their times;
      ``desired`` is the newest), never below ``desired``.
    - The bounds are hard: replicas outside [min, max] (the spec's bounds changed)
      move to the nearest bound at once, window or not; recommendations outside them
      count as the nearest bound.

    ``last_scale_time`` (the pool's ``status.lastScaleTime``) counts as a
    recommendation of the current replicas at that time. The scaler keeps its
    recommendations in memory, so an operator that just restarted has none, and
    without this it would scale down at once what it scaled up a minute earlier.
    The price: after a scale-down, the next one waits a whole window from it, where
    the HPA could go on sooner (never faster than the HPA, at most one window slower).

    A time after ``now`` counts as nothing: it comes from another clock, and a far
    future one would otherwise hold the pool up forever.
    """
    _check_bounds(min_replicas, max_replicas)
    if current < 0 or stabilization_s < 0:
        raise ValueError(f"need current >= 0 and a window >= 0, got {current}, {stabilization_s}")
    wanted = _clamp(desired, min_replicas, max_replicas)
    window_start = now - timedelta(seconds=stabilization_s)
    seen = [
        _clamp(replicas, min_replicas, max_replicas)
        for at, replicas in recent_desired
        if window_start < at <= now
    ]
    if last_scale_time is not None and window_start < last_scale_time <= now:
        seen.append(_clamp(current, min_replicas, max_replicas))

    # Up (or steady) at once; down to the window's highest, never below what is wanted now.
    held = wanted if wanted >= current else min(current, max([wanted, *seen]))
    replicas = _clamp(held, min_replicas, max_replicas)
    return ScaleDecision(
        replicas=replicas,
        changed=replicas != current,
        reason=_reason(current, wanted, replicas, min_replicas, max_replicas),
    )


def _reason(
    current: int, wanted: int, replicas: int, min_replicas: int, max_replicas: int
) -> ScaleReason:
    if current < min_replicas:
        return ScaleReason.BELOW_MIN
    if current > max_replicas:
        return ScaleReason.ABOVE_MAX
    if replicas > current:
        return ScaleReason.SCALE_UP
    if replicas < current:
        return ScaleReason.SCALE_DOWN
    return ScaleReason.STEADY if wanted == current else ScaleReason.STABILIZING
