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

The last receive (`last_receive`) needs one more rule. Some ways back to the
queue are not failures of the message: another replica's live claim (BUSY),
an answer that never came (UNKNOWN: the claim stays and a reclaimer asks the
vendor), a replica killed while holding it. Handed back on its last receive,
SQS would move it to the dead-letter queue with no reason while its ledger
entry still says SENDING: lost. So on its last receive the sender first puts
a fresh copy on the queue (`renew_when`; visible `renew_delay_s` later; its receive
count starts again; a copy of a message that settles meanwhile is DONE when it
comes): the copies of a batch go in one call before anything else, so a replica
killed right after receiving leaves them behind (a receive can still be lost
with its replica in the moment before: SQS's rule for a message that kills
every receiver). Then, where it would hand the message back, it deletes it
instead (`hand_back_step`): the copy carries it. How often that can repeat is bounded
by the ledger: each claim that runs out adds an attempt, and a reclaim after
the last one records FAILED.
"""

from __future__ import annotations

import math
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


#: SQS's longest DelaySeconds.
MAX_DELAY_S: Final = 900


def last_receive(receive_count: int, max_receive_count: int) -> bool:
    """Whether SQS moves this message to its dead-letter queue if it comes back once more."""
    return receive_count >= max_receive_count


class Renew(StrEnum):
    """Whether and when a message gets its last-receive copy."""

    NO = "no"  # not its last receive
    FIRST = "first"  # before anything else: even a crash right after leaves the copy
    #: after the claim, unless the ledger says DONE: with a redrive after one receive every
    #: receive is the last, and a copy made first of a settled message would be copied again
    #: on its own receive, forever
    AFTER_CLAIM = "after-claim"


def renew_when(receive_count: int, max_receive_count: int) -> Renew:
    if not last_receive(receive_count, max_receive_count):
        return Renew.NO
    return Renew.FIRST if max_receive_count > 1 else Renew.AFTER_CLAIM


def renew_delay_s(claim_s: float) -> int:
    """When the last-receive copy becomes visible: after a claim taken now would have expired
    (so a copy of a message still being worked on finds its outcome, or a claim to reclaim)."""
    return min(math.ceil(claim_s) + 1, MAX_DELAY_S)


def keep_visible_every_s(visibility_timeout_s: int) -> float:
    """How often a send in progress renews its queue message's visibility: at a third of the
    timeout, so two renewals in a row can be late or fail before the message shows again.
    Never more often than once a second (SQS's timeouts are whole seconds)."""
    return max(1.0, visibility_timeout_s / 3)


def hand_back_step(*, copied: bool) -> QueueStep:
    """How a message not settled here goes back: visible again later, or, when a copy of it
    was put on the queue on its last receive, deleted (the copy carries it; if the copy
    could not be made, it goes back as any other, and SQS may dead-letter it)."""
    return QueueStep.DELETE if copied else QueueStep.RETRY_AFTER


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
