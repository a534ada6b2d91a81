"""The lease decisions as pure functions of observed facts and the runner's monotonic clock.

Nothing here performs I/O or reads a clock: every input is passed in, so each
rule is a row in a table test (tests/unit/lease/test_decision.py) and the
elector is only plumbing around these functions.

Why the holder always stops before anyone else may start:

* The holder measures its renew deadline from the moment its last
  *successful* write was **sent** (`ElectorState.last_renew`), not from when
  the answer came back. The server applied that write at some instant
  `T_w >= sent`, so a slow answer can never extend the holder's belief.
* Another runner may take over only after the record stayed unchanged for a
  full lease duration since *it observed* the change (`observe`), and it can
  only observe a write after the write happened: `observed >= T_w`. Its
  takeover is a write conditional on the version it observed, so if the holder
  wrote anything later, the takeover fails with a conflict.
* Hence the holder stops at `sent + renew_deadline` and the earliest takeover
  is at `observed + duration >= T_w + duration >= sent + duration`: the gap is
  at least `duration - renew_deadline` (5 s with client-go's defaults), which
  absorbs event-loop lateness in noticing the deadline. It assumes the two
  monotonic clocks tick at the same rate (they do, to parts per million) and
  that the holder is not frozen (SIGSTOP, a VM pause): that case is caught by
  the fencing token, not by timing (see `fencing.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from session_runner.session.lease.record import LeaseRecord, LeaseTimings


@dataclass(frozen=True)
class Observation:
    """The last record this runner saw, and when (its monotonic clock) it last changed.

    `record` None means the lease did not exist when last read.
    """

    record: LeaseRecord | None
    changed_at: float


def _fingerprint(record: LeaseRecord | None) -> tuple[object, ...] | None:
    """What counts as a change: the holder renewing moves renew_time and the version."""
    if record is None:
        return None
    return (record.holder or None, record.renew_time, record.transitions, record.version)


def observe(previous: Observation | None, record: LeaseRecord | None, now: float) -> Observation:
    """Fold a freshly read `record` into the observation; `changed_at` moves only on change.

    The remote timestamps are compared only for equality (did the holder write
    again?), never against any clock.
    """
    if previous is not None and _fingerprint(previous.record) == _fingerprint(record):
        return Observation(record=record, changed_at=previous.changed_at)
    return Observation(record=record, changed_at=now)


def may_acquire(
    me: str, observation: Observation | None, now: float, timings: LeaseTimings
) -> bool:
    """Whether `me` may write a claim now (the write itself is still conditional on the version).

    Yes when there is no lease, no holder (released), we are the holder, or
    the holder's record stayed unchanged for a full lease duration since we saw
    it change. The duration is the longer of the holder's declared one and
    ours, so a holder with longer timings than ours is never cut short.
    Nothing observed yet: no (read before deciding).
    """
    if observation is None:
        return False
    record = observation.record
    if record is None or not record.held or record.holder == me:
        return True
    duration = max(record.lease_duration_s, timings.duration)
    return now - observation.changed_at >= duration


def seconds_until_may_acquire(
    me: str, observation: Observation | None, now: float, timings: LeaseTimings
) -> float | None:
    """How long until `may_acquire` turns true if the record stays as observed; None if
    it never will by waiting alone (nothing observed yet), 0 if it already is.

    The acquire loop sleeps min(RetryPeriod with jitter, this) so a standby
    claims an expired lease when it expires, not up to a whole retry later.
    """
    if observation is None:
        return None
    if may_acquire(me, observation, now, timings):
        return 0.0
    record = observation.record
    assert record is not None
    duration = max(record.lease_duration_s, timings.duration)
    return max(0.0, observation.changed_at + duration - now)


class Verdict(Enum):
    """What the elector must do next."""

    KEEP_RUNNING = "keep-running"  # leading, renewed recently enough
    STOP_NOW = "stop-now"  # leading but may no longer be: kill the engine at once
    MAY_ACQUIRE = "may-acquire"  # not leading; a claim may succeed
    WAIT = "wait"  # not leading; someone else holds a live lease


@dataclass(frozen=True)
class ElectorState:
    """The facts `classify` decides on.

    `last_renew`: monotonic time at which our last successful acquire/renew
    request was *sent*. `token`: the fencing token we lead with.
    """

    leading: bool
    last_renew: float | None
    observation: Observation | None
    token: int | None = None


def renew_deadline(state: ElectorState, timings: LeaseTimings) -> float | None:
    """The monotonic instant at which a leader must have stopped (None when not leading)."""
    if not state.leading or state.last_renew is None:
        return None
    return state.last_renew + timings.renew_deadline


def classify(me: str, state: ElectorState, now: float, timings: LeaseTimings) -> Verdict:
    """The decision table (one row per branch; see the module docstring for the margin).

    A leader stops when its renew deadline has passed, or as soon as it sees
    proof that it no longer holds the lease: another holder, no lease at all,
    or its own identity with a different transitions count (another process
    with our identity took over).
    """
    if state.leading:
        deadline = renew_deadline(state, timings)
        if deadline is None or now >= deadline:
            return Verdict.STOP_NOW
        observed = state.observation.record if state.observation is not None else None
        if observed is None or observed.holder != me:
            return Verdict.STOP_NOW
        if state.token is not None and observed.transitions != state.token:
            return Verdict.STOP_NOW
        return Verdict.KEEP_RUNNING
    if may_acquire(me, state.observation, now, timings):
        return Verdict.MAY_ACQUIRE
    return Verdict.WAIT


def next_record_for_acquire(
    me: str,
    current: LeaseRecord | None,
    now_wall: datetime,
    timings: LeaseTimings,
    floor: int = 0,
) -> LeaseRecord:
    """The claim to write over `current` (None: create the lease).

    transitions counts holder changes (client-go's leaseTransitions): +1 when
    the holder changes, including from released; unchanged when we re-take our
    own record (e.g. after stopping on a missed deadline while nobody else
    took over). A new lease starts at 0. The result carries `current.version`,
    the version the conditional write expects.

    `floor` is the lowest fencing token storage would still accept from a new
    holder (`token_floor`: the snapshot store's latest token + 1, the
    operator's recorded token + 1). Every claim writes at least it, so a Lease
    that was deleted and re-created (transitions back at 0) never hands out a
    token below one already used: such a token would be refused by storage
    forever while its holder kept the lease. Re-taking our own record takes
    it too: our old token may be exactly what storage holds, and a runner that
    could not release after being fenced out must not re-take the token that
    was refused. With the default 0 every rule above is unchanged.
    """
    if current is None:
        return LeaseRecord(
            holder=me,
            lease_duration_s=timings.duration,
            acquire_time=now_wall,
            renew_time=now_wall,
            transitions=max(0, floor),
            version="",
        )
    if current.holder == me:
        return replace(
            current,
            lease_duration_s=timings.duration,
            acquire_time=current.acquire_time or now_wall,
            renew_time=now_wall,
            transitions=max(current.transitions, floor),
        )
    return LeaseRecord(
        holder=me,
        lease_duration_s=timings.duration,
        acquire_time=now_wall,
        renew_time=now_wall,
        transitions=max(current.transitions + 1, floor),
        version=current.version,
    )


def next_record_for_renew(
    me: str, current: LeaseRecord, now_wall: datetime, timings: LeaseTimings
) -> LeaseRecord:
    """The renewal of `current`, which we must hold: only renew_time (and the version) move."""
    if current.holder != me:
        raise ValueError(f"cannot renew a lease held by {current.holder!r} as {me!r}")
    return replace(current, lease_duration_s=timings.duration, renew_time=now_wall)


def next_record_for_release(me: str, current: LeaseRecord, now_wall: datetime) -> LeaseRecord:
    """Clear the holder so the next runner takes over at once (client-go's ReleaseOnCancel).

    transitions is kept: the next holder's claim increments it.
    """
    if current.holder != me:
        raise ValueError(f"cannot release a lease held by {current.holder!r} as {me!r}")
    return replace(current, holder=None, acquire_time=None, renew_time=now_wall)


def fencing_token(record: LeaseRecord) -> int:
    """The fencing token of whoever holds `record`: leaseTransitions at acquisition.

    Every takeover increments transitions with a write conditional on the
    previous version, so no two holders ever share a token and a later holder
    always has a higher one; storage refuses writes below the highest token
    it has accepted (`fencing.token_accepts`). A claim also lifts transitions
    to the token floor (`next_record_for_acquire`), so this holds across a
    deleted and re-created Lease too.
    """
    return record.transitions
