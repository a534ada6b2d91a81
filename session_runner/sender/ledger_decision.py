"""The exactly-once ledger's rules, as pure functions of one ledger entry and a wall clock.

SQS delivers at least once: a message can arrive twice, a replica can be
killed mid-send, a visibility timeout can expire mid-send and hand the same
message to another replica. The ledger (one DynamoDB item per message id,
`ledger.py`) turns that into *at most one send per id, and every id ends
SENT or FAILED*:

* Before sending, a replica **claims** the id: it writes a SENDING entry
  naming itself (`claimer`) with a claim that expires at `claim_expires_at`.
  The write is conditional, so of two replicas racing on one id exactly one
  wins; the other reads the winner's claim and is told BUSY.
* After the vendor answered, the claimer records SENT (the vendor's message
  id) or FAILED (a reason), conditional on still being the claimer.
* A SENDING entry whose claim expired means its claimer died (or stalled)
  mid-send: the message may or may not have reached the vendor. Another
  replica may **reclaim** it, but must ask the vendor first and, when the
  vendor cannot tell, record FAILED "outcome unknown" rather than risk a
  second send (`after_vendor_lookup`).

What makes a reclaim safe is timing the claimer controls: it starts a vendor
call only while its claim has the call's timeout plus a margin for clock
skew left (`may_start_send`), and keeps long sends alive with `extend`. A
reclaimer can only see the claim expired once that margin is gone, so a send
it might overlap with had already ended (or timed out) by then.

`claimer` must name one *process incarnation* (e.g. pod name plus a random
suffix chosen at start), never just the pod name: a StatefulSet pod restarted
after a SIGKILL keeps its name, and it must not mistake the dead process's
claim for its own. A live claim is BUSY even for its own claimer: a second
delivery of a message one of our own tasks is sending must not send it again.

Times are wall-clock epoch seconds (`time.time()`): claims are compared
across replicas, so no monotonic clock will do. Skew between nodes shortens
(or lengthens) a claim as seen by another node by the skew; `may_start_send`'s
margin must cover it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

#: Claims, including the first, after which a reclaimer no longer sends: a message whose
#: every sender died (a poison message crashing the process) is failed, not retried forever.
DEFAULT_MAX_ATTEMPTS: Final = 3
#: The longest reason stored (DynamoDB items are bounded; vendors' error bodies are not).
MAX_REASON_CHARS: Final = 512
#: Reasons the sender records by rule (vendors' own reasons are recorded as given, bounded).
OUTCOME_UNKNOWN: Final = "outcome unknown"
ATTEMPTS_EXHAUSTED: Final = "attempts exhausted"


class LedgerState(StrEnum):
    """Where one message is: being sent, or finally sent or failed (terminal)."""

    SENDING = "SENDING"
    SENT = "SENT"
    FAILED = "FAILED"


@dataclass(frozen=True)
class LedgerEntry:
    """One message's ledger item.

    `attempts` counts claims (the first claim is 1, every reclaim adds 1),
    which is how many senders may have sent it. `token` is the highest
    fencing token written to the entry (a session pool's lease token; None
    for pools without one).
    """

    message_id: str
    state: LedgerState
    claimer: str
    claim_expires_at: float
    attempts: int
    vendor_message_id: str | None = None
    reason: str | None = None
    token: int | None = None
    updated_at: float = 0.0

    @property
    def terminal(self) -> bool:
        return self.state is not LedgerState.SENDING


class ClaimAction(StrEnum):
    """What the sender does with a queue message, given the ledger."""

    CLAIM = "CLAIM"  # no entry: ours now (SENDING); send it
    RECLAIM = "RECLAIM"  # the previous claim expired: ours now; ask the vendor before sending
    BUSY = "BUSY"  # a live claim: leave the queue message for later (retry_after_s)
    DONE = "DONE"  # SENT or FAILED: delete the queue message, never send
    FENCED = "FENCED"  # the entry carries a higher fencing token: we were deposed; stop


@dataclass(frozen=True)
class ClaimDecision:
    """The decision and the entry it concerns.

    `entry`: for CLAIM and RECLAIM the entry to write (once written, ours);
    for BUSY, DONE and FENCED the stored entry. `previous`: for RECLAIM the
    expired claim being taken over (the write is conditional on it).
    `retry_after_s`: for BUSY the seconds until the live claim expires (when
    a reclaim could succeed), else 0. `may_send`: whether a send is allowed
    at all: CLAIM yes; RECLAIM only when the vendor says it does not have
    the message and attempts are left (`after_vendor_lookup`); never otherwise.
    """

    action: ClaimAction
    entry: LedgerEntry
    previous: LedgerEntry | None = None
    retry_after_s: float = 0.0
    may_send: bool = False

    @property
    def must_ask_vendor(self) -> bool:
        """RECLAIM: the previous claimer may have sent; ask the vendor before anything else."""
        return self.action is ClaimAction.RECLAIM


def claim_expired(entry: LedgerEntry, now: float) -> bool:
    """A claim is live strictly before `claim_expires_at` and expired from that instant on."""
    return now >= entry.claim_expires_at


def token_is_stale(stored: int | None, mine: int | None) -> bool:
    """Whether the entry proves we were deposed: it carries a higher token than ours.

    Same rule as `session.lease.fencing.token_accepts` (equal passes); a
    writer without a token is never fenced (pools without a lease).
    """
    return mine is not None and stored is not None and stored > mine


def decide_claim(
    entry: LedgerEntry | None,
    now: float,
    *,
    message_id: str,
    claimer: str,
    lease_s: float,
    token: int | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> ClaimDecision:
    """What `claimer` may do with a message whose ledger entry is `entry` (None: no entry).

    The rows, first match wins: no entry → CLAIM; SENT/FAILED → DONE; a
    higher token than ours → FENCED; SENDING with a live claim → BUSY (even
    our own: see the module docstring); SENDING with an expired claim →
    RECLAIM, with attempts + 1 and `may_send` False once that exceeds
    `max_attempts`. The new claim expires at `now + lease_s` and carries our
    token (the stored one when we have none; ours is never lower, else FENCED).
    """
    if lease_s <= 0:
        raise ValueError(f"lease_s must be positive, got {lease_s}")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    if not claimer:
        raise ValueError("claimer must name the claiming process")
    if entry is not None and entry.message_id != message_id:
        raise ValueError(f"entry of {entry.message_id!r} given for {message_id!r}")
    if entry is None:
        claim = LedgerEntry(
            message_id=message_id,
            state=LedgerState.SENDING,
            claimer=claimer,
            claim_expires_at=now + lease_s,
            attempts=1,
            token=token,
            updated_at=now,
        )
        return ClaimDecision(ClaimAction.CLAIM, claim, may_send=True)
    if entry.terminal:
        return ClaimDecision(ClaimAction.DONE, entry)
    if token_is_stale(entry.token, token):
        return ClaimDecision(ClaimAction.FENCED, entry)
    if not claim_expired(entry, now):
        return ClaimDecision(ClaimAction.BUSY, entry, retry_after_s=entry.claim_expires_at - now)
    attempts = entry.attempts + 1
    reclaim = LedgerEntry(
        message_id=entry.message_id,
        state=LedgerState.SENDING,
        claimer=claimer,
        claim_expires_at=now + lease_s,
        attempts=attempts,
        token=token if token is not None else entry.token,  # not stale: ours is not lower
        updated_at=now,
    )
    return ClaimDecision(
        ClaimAction.RECLAIM, reclaim, previous=entry, may_send=attempts <= max_attempts
    )


def may_start_send(
    entry: LedgerEntry, now: float, *, send_timeout_s: float, skew_margin_s: float
) -> bool:
    """Whether a claimer may start a vendor call now under its claim `entry`.

    Only if the call, bounded by `send_timeout_s`, ends before the claim
    expires even on a node whose clock runs `skew_margin_s` ahead of ours:
    otherwise a reclaimer could ask the vendor while our send is still in
    flight, hear "not found" and send again. When this says no, `extend`
    the claim first (or give the message back).
    """
    return now + send_timeout_s + skew_margin_s < entry.claim_expires_at


class VendorLookup(StrEnum):
    """What the vendor said when asked whether it already has a message (by our id)."""

    FOUND = "FOUND"  # it has it: the previous claimer's send landed
    NOT_FOUND = "NOT_FOUND"  # it definitely does not
    UNKNOWN = "UNKNOWN"  # it cannot tell (no lookup API, or the lookup failed)


class ReclaimStep(StrEnum):
    """What a reclaimer does after the vendor lookup."""

    RECORD_SENT = "RECORD_SENT"  # with the vendor's message id from the lookup
    SEND = "SEND"
    RECORD_FAILED = "RECORD_FAILED"


@dataclass(frozen=True)
class AfterLookup:
    step: ReclaimStep
    reason: str | None = None  # for RECORD_FAILED


def after_vendor_lookup(decision: ClaimDecision, lookup: VendorLookup) -> AfterLookup:
    """The reclaimer's next step: never a second send unless the vendor said it has none.

    FOUND → record SENT; UNKNOWN → record FAILED "outcome unknown" (a lost
    message is reported, a duplicate could not be taken back); NOT_FOUND →
    send, unless the attempts are exhausted (then FAILED "attempts exhausted").
    """
    if decision.action is not ClaimAction.RECLAIM:
        raise ValueError(f"only a RECLAIM asks the vendor, not {decision.action}")
    if lookup is VendorLookup.FOUND:
        return AfterLookup(ReclaimStep.RECORD_SENT)
    if lookup is VendorLookup.UNKNOWN:
        return AfterLookup(ReclaimStep.RECORD_FAILED, OUTCOME_UNKNOWN)
    if not decision.may_send:
        return AfterLookup(ReclaimStep.RECORD_FAILED, ATTEMPTS_EXHAUSTED)
    return AfterLookup(ReclaimStep.SEND)


def bound_reason(reason: str) -> str:
    """`reason` cut to `MAX_REASON_CHARS` (marked with an ellipsis when cut)."""
    if len(reason) <= MAX_REASON_CHARS:
        return reason
    return reason[: MAX_REASON_CHARS - 1] + "…"
