"""What one delivery attempt's answer means. Pure.

    2xx                                  → DELIVERED
    410 Gone                             → TOMBSTONE: the subscriber said it is gone for good
    408, 429, 5xx, timeout, no connection → RETRY after the schedule's next delay (with jitter,
                                           and never sooner than the subscriber's Retry-After),
                                           or EXHAUSTED when the schedule has run out
    any other answer (3xx, 4xx)           → FAILED: the same request would fail the same way

Every attempt that is not DELIVERED counts as a failure in the subscriber's
24-hour window (`failure_window`), retried or not. The schedule is Svix's by
default (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h): a subscriber that is down
for a deploy gets the event within seconds of coming back, one that is down
for a day still gets it, and a dead one costs eight attempts per event.

Retries wait on a queue, not in memory: SQS holds a message for at most 900
seconds (`DelaySeconds`), so a longer wait is served in steps (`hold_for`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

#: SQS's longest DelaySeconds.
MAX_QUEUE_DELAY_S: Final = 900
#: A Retry-After beyond this is read as this: a day, the failure window's span.
MAX_RETRY_AFTER_S: Final = 86400.0


class Failure(StrEnum):
    """Why an attempt got no HTTP answer."""

    TIMEOUT = "timeout"  # the subscription's timeoutSeconds ran out
    CONNECT = "connect"  # no connection (refused, DNS, TLS)
    REFUSED_ADDRESS = "refused-address"  # the URL resolves where we do not send (url_safety)
    BROKEN = "broken"  # the connection broke before a full answer


@dataclass(frozen=True)
class Answer:
    """An attempt's result: an HTTP status, or why there was none; Retry-After in seconds."""

    status: int | None = None
    failure: Failure | None = None
    retry_after_s: float | None = None
    detail: str | None = None  # e.g. which address was refused; never a secret

    def __post_init__(self) -> None:
        if (self.status is None) == (self.failure is None):
            raise ValueError("an answer has either a status or a failure")


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    EXHAUSTED = "exhausted"  # retryable, but no retries left: dropped for this subscriber
    FAILED = "failed"  # not retryable
    TOMBSTONE = "tombstone"  # switch the subscription off now


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    delay_s: float | None = None  # RETRY: how long until the next attempt
    reason: str = ""

    @property
    def failed(self) -> bool:
        """Whether this attempt counts in the subscriber's failure window."""
        return self.verdict is not Verdict.DELIVERED


def _reason(answer: Answer) -> str:
    what = f"HTTP {answer.status}" if answer.status is not None else str(answer.failure)
    return f"{what}: {answer.detail}" if answer.detail else what


def retryable(answer: Answer) -> bool:
    """Timeouts, lost connections, 408, 429 and 5xx: the next attempt may well work."""
    if answer.status is None:
        return answer.failure is not Failure.REFUSED_ADDRESS
    return answer.status in (408, 429) or 500 <= answer.status <= 599


def jittered(delay_s: float, ratio: float, draw: float) -> float:
    """`delay_s` moved by up to ±`ratio` of itself; `draw` is uniform in [0, 1).

    Why: subscribers that failed together (an outage) would otherwise be
    retried together, in a burst, at every step of the schedule.
    """
    return delay_s * (1.0 + ratio * (2.0 * draw - 1.0))


def after_attempt(
    answer: Answer,
    attempt: int,
    schedule_s: Sequence[int],
    *,
    jitter_ratio: float,
    draw: float,
) -> Decision:
    """The decision after attempt number `attempt` (1 is the first) got `answer`.

    Attempt n failing retries after `schedule_s[n - 1]` (jittered), at the
    earliest after Retry-After; `len(schedule_s)` retries in all.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    if answer.status is not None and 200 <= answer.status <= 299:
        return Decision(Verdict.DELIVERED)
    reason = _reason(answer)
    if answer.status == 410:
        return Decision(Verdict.TOMBSTONE, reason=f"{reason}: the subscriber is gone")
    if not retryable(answer):
        return Decision(Verdict.FAILED, reason=reason)
    if attempt > len(schedule_s):
        return Decision(Verdict.EXHAUSTED, reason=f"{reason} after {attempt} attempts")
    delay = jittered(float(schedule_s[attempt - 1]), jitter_ratio, draw)
    if answer.retry_after_s is not None:
        delay = max(delay, min(answer.retry_after_s, MAX_RETRY_AFTER_S))
    return Decision(Verdict.RETRY, delay_s=delay, reason=reason)


def hold_for(due_at: float, now: float) -> int:
    """Seconds a retry that is due at `due_at` must still wait on the queue, at most
    SQS's 900 (it is then received early and put back for the rest); 0: due now."""
    return min(MAX_QUEUE_DELAY_S, max(0, math.ceil(due_at - now)))
