"""What the sender does after the vendor answered: one pure table from outcome to steps.

The ledger's rules (`ledger_decision.py`) decide whether a message may be
sent at all; this module decides what an answer means for the ledger, the
queue message and the pool:

| outcome   | ledger                 | queue message                      | pool                       |
|-----------|------------------------|------------------------------------|----------------------------|
| SENT      | SENT, vendor id        | deleted                            |                            |
| PERMANENT | FAILED, vendor's code  | to the DLQ with the reason         |                            |
| RETRY     | claim released         | visible again after a backoff      |                            |
| THROTTLE  | claim released         | visible again after Retry-After    | paused until then (all)    |
| AUTH      | claim released         | visible again after the pause      | paused (credentials)       |
| UNKNOWN   | claim kept until it    | visible again when the claim ends: | a reclaimer asks the vendor|
|           | expires                | the reclaim path decides           |                            |

RETRY, THROTTLE and AUTH are "definitely not sent": releasing the claim lets
the next receive claim it afresh, without asking the vendor. A message that
keeps failing is given up on the last receive SQS allows before its redrive
(`max_receive_count`): recorded FAILED with the last reason and dead-lettered
by us, so the ledger says why (SQS's own redrive would not).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from session_runner.sender.vendors.base import Outcome, SendResult

#: Backoff of a RETRY, by receive count: 5 s, 10 s, 20 s … capped (SQS's visibility limit is 12 h).
RETRY_BASE_S: Final = 5.0
RETRY_MAX_S: Final = 300.0
#: How long the pool pauses when a vendor refuses its credentials: a person must act,
#: so the senders check again once a minute rather than burn the queue's receives.
AUTH_PAUSE_S: Final = 60.0
#: A throttle without Retry-After pauses the pool this long.
DEFAULT_THROTTLE_S: Final = 1.0


class LedgerStep(StrEnum):
    RECORD_SENT = "record-sent"
    RECORD_FAILED = "record-failed"
    RELEASE = "release"  # definitely not sent: the claim goes, the next receive claims again
    KEEP = "keep"  # maybe sent: the claim stays until it expires, then a reclaim asks the vendor


class QueueStep(StrEnum):
    DELETE = "delete"
    DEAD_LETTER = "dead-letter"
    RETRY_AFTER = "retry-after"  # change the visibility to `delay_s`


@dataclass(frozen=True)
class Steps:
    ledger: LedgerStep
    queue: QueueStep
    delay_s: float = 0.0
    reason: str | None = None
    #: Pause every replica of the pool this long (the pool-wide limiter's throttle).
    pause_pool_s: float | None = None


def retry_delay(receive_count: int) -> float:
    delay: float = RETRY_BASE_S * 2 ** max(receive_count - 1, 0)
    return min(delay, RETRY_MAX_S)


def _reason(result: SendResult) -> str:
    code = f"{result.code}: " if result.code else ""
    return f"{result.outcome}: {code}{result.detail}".strip()


def after_send(
    result: SendResult,
    *,
    receive_count: int,
    max_receive_count: int,
    claim_remaining_s: float,
) -> Steps:
    """The steps for `result`, the vendor's answer to this receive of the message."""
    outcome = result.outcome
    if outcome is Outcome.SENT:
        return Steps(LedgerStep.RECORD_SENT, QueueStep.DELETE)
    if outcome is Outcome.PERMANENT:
        return Steps(LedgerStep.RECORD_FAILED, QueueStep.DEAD_LETTER, reason=_reason(result))
    if outcome is Outcome.UNKNOWN:
        # Not ours to decide: whoever receives it after the claim expired asks the vendor.
        return Steps(LedgerStep.KEEP, QueueStep.RETRY_AFTER, delay_s=max(claim_remaining_s, 1.0))
    last_receive = receive_count >= max_receive_count
    if last_receive:
        reason = f"gave up after {receive_count} attempts; last: {_reason(result)}"
        return Steps(LedgerStep.RECORD_FAILED, QueueStep.DEAD_LETTER, reason=reason)
    if outcome is Outcome.THROTTLE:
        pause = result.retry_after_s or DEFAULT_THROTTLE_S
        return Steps(
            LedgerStep.RELEASE,
            QueueStep.RETRY_AFTER,
            delay_s=pause,
            reason=_reason(result),
            pause_pool_s=pause,
        )
    if outcome is Outcome.AUTH:
        return Steps(
            LedgerStep.RELEASE,
            QueueStep.RETRY_AFTER,
            delay_s=AUTH_PAUSE_S,
            reason=_reason(result),
            pause_pool_s=AUTH_PAUSE_S,
        )
    delay = result.retry_after_s or retry_delay(receive_count)
    return Steps(LedgerStep.RELEASE, QueueStep.RETRY_AFTER, delay_s=delay, reason=_reason(result))
