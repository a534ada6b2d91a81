"""Who may work on a job, and how far its work is known to be done: pure decisions.

A job is worked by one worker at a time, the holder of its lock (owner, expiry,
fencing token). A worker claims a PENDING or RUNNING job whose lock expired,
and each claim increments the token; every later write of the holder
(heartbeat, cursor, finish) is conditional on its owner and token, so a worker
that stalled past its lock and was replaced cannot move the job's cursor back.

The cursor says where the next unpublished record starts. Batches are
published several at a time and may complete out of order; the cursor only
moves to the end of the longest run of completed batches from where it was
(`CursorWindow`), so every valid row before it was published and every invalid
row before it has its error item. A successor resumes there and publishes
again the rows between that cursor and where its predecessor died: the same
message ids, which the ledger sends once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from enum import StrEnum

from session_runner.bulk.csvstream import Position
from session_runner.bulk.model import BulkState

ACTIVE_STATES = frozenset({BulkState.PENDING, BulkState.RUNNING})


@dataclass(frozen=True)
class Cursor:
    """Where the next record starts (`offset`, `line`), its row index, and the counts before it."""

    offset: int
    row: int  # the next data row's index (1-based)
    line: int
    valid: int = 0
    invalid: int = 0

    @property
    def position(self) -> Position:
        return Position(self.offset, self.line)

    def after(self, end: Position, *, valid: int, invalid: int) -> Cursor:
        """This cursor moved to `end` past `valid` + `invalid` more rows."""
        return replace(
            self,
            offset=end.offset,
            line=end.line,
            row=self.row + valid + invalid,
            valid=self.valid + valid,
            invalid=self.invalid + invalid,
        )


@dataclass(frozen=True)
class Lock:
    """A job's lock as stored: `owner` None and `expires_at` 0 when nobody ever held it."""

    owner: str | None
    expires_at: float
    fence: int


class ClaimAction(StrEnum):
    CLAIM = "CLAIM"  # ours: write `lock` conditionally on the lock we read
    BUSY = "BUSY"  # another worker's lock is live: try again after `retry_after_s`
    FINISHED = "FINISHED"  # DONE, CANCELLED or FAILED: nothing to claim


@dataclass(frozen=True)
class ClaimDecision:
    action: ClaimAction
    lock: Lock  # CLAIM: the new lock; otherwise the stored one
    retry_after_s: float = 0.0


def decide_claim(
    state: BulkState, lock: Lock, now: float, *, me: str, lock_s: float
) -> ClaimDecision:
    """Whether `me` may take the job now. A lock is live strictly before `expires_at`; a live
    lock is BUSY even when it names `me` (a second task of ours must not work the job too).
    A claim increments the fence: the previous holder's conditional writes then fail."""
    if lock_s <= 0:
        raise ValueError(f"lock_s must be positive, got {lock_s}")
    if not me:
        raise ValueError("the claiming worker must have an identity")
    if state not in ACTIVE_STATES:
        return ClaimDecision(ClaimAction.FINISHED, lock)
    if now < lock.expires_at:
        return ClaimDecision(ClaimAction.BUSY, lock, retry_after_s=lock.expires_at - now)
    return ClaimDecision(ClaimAction.CLAIM, Lock(me, now + lock_s, lock.fence + 1))


def cursor_due(
    batches_since: int, seconds_since: float, *, every_batches: int, every_seconds: float
) -> bool:
    """Whether to write the cursor now: after `every_batches` completed batches, or once
    `every_seconds` passed with at least one (a cursor that did not move is not written)."""
    if batches_since <= 0:
        return False
    return batches_since >= every_batches or seconds_since >= every_seconds


class CursorWindow:
    """Batches in flight, in the order they were read; `confirmed` is the cursor after the
    longest completed run from the start (a later batch completing first moves nothing)."""

    def __init__(self, start: Cursor) -> None:
        self.confirmed = start
        self._pending: deque[tuple[int, Cursor]] = deque()
        self._done: set[int] = set()
        self._next = 0

    def dispatch(self, end: Cursor) -> int:
        """A batch ending at `end` is going out; its sequence number (for `complete`)."""
        seq = self._next
        self._next += 1
        self._pending.append((seq, end))
        return seq

    def complete(self, seq: int) -> int:
        """Batch `seq` is published (and its errors written); how many batches the confirmed
        cursor moved past."""
        if seq >= self._next or seq in self._done or all(s != seq for s, _ in self._pending):
            raise ValueError(f"batch {seq} is not in flight")
        self._done.add(seq)
        moved = 0
        while self._pending and self._pending[0][0] in self._done:
            done_seq, end = self._pending.popleft()
            self._done.discard(done_seq)
            self.confirmed = end
            moved += 1
        return moved

    @property
    def in_flight(self) -> int:
        return len(self._pending)
