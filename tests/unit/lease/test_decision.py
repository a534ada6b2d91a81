"""The lease decisions, one table row per rule (all times are the runner's monotonic clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from session_runner.session.lease.decision import (
    ElectorState,
    Observation,
    Verdict,
    classify,
    fencing_token,
    may_acquire,
    next_record_for_acquire,
    next_record_for_release,
    next_record_for_renew,
    observe,
    renew_deadline,
    seconds_until_may_acquire,
)
from session_runner.session.lease.record import LeaseRecord, LeaseTimings

T = LeaseTimings(duration=15.0, renew_deadline=10.0, retry_period=2.0)
ME, OTHER = "me", "other"
WALL = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def rec(
    holder: str | None = OTHER,
    *,
    version: str = "7",
    transitions: int = 3,
    renew: datetime = WALL,
    duration: float = 15.0,
) -> LeaseRecord:
    return LeaseRecord(
        holder=holder,
        lease_duration_s=duration,
        acquire_time=WALL - timedelta(minutes=1),
        renew_time=renew,
        transitions=transitions,
        version=version,
    )


# ------------------------------------------------------------------ observe

OBSERVE_ROWS = [
    # (previous, record, now, expected changed_at)
    pytest.param(None, rec(), 5.0, 5.0, id="first sighting starts the clock"),
    pytest.param(None, None, 5.0, 5.0, id="first sighting of no lease"),
    pytest.param(Observation(rec(), 1.0), rec(), 9.0, 1.0, id="unchanged keeps changed_at"),
    pytest.param(Observation(None, 1.0), None, 9.0, 1.0, id="still missing keeps changed_at"),
    pytest.param(
        Observation(rec(), 1.0), rec(version="8"), 9.0, 9.0, id="new version restarts the clock"
    ),
    pytest.param(
        Observation(rec(), 1.0),
        rec(renew=WALL + timedelta(seconds=2)),
        9.0,
        9.0,
        id="new renew_time restarts the clock",
    ),
    pytest.param(
        Observation(rec(), 1.0), rec(holder=ME), 9.0, 9.0, id="new holder restarts the clock"
    ),
    pytest.param(
        Observation(rec(), 1.0), rec(transitions=4), 9.0, 9.0, id="new transitions restart it"
    ),
    pytest.param(Observation(rec(), 1.0), None, 9.0, 9.0, id="deletion is a change"),
    pytest.param(
        Observation(rec(holder=None), 1.0),
        rec(holder=""),
        9.0,
        1.0,
        id="empty and absent holder are the same",
    ),
    pytest.param(
        Observation(rec(), 1.0),
        replace(rec(), acquire_time=WALL + timedelta(days=1), lease_duration_s=99),
        9.0,
        1.0,
        id="fields outside the fingerprint do not count",
    ),
]


@pytest.mark.parametrize(("previous", "record", "now", "changed_at"), OBSERVE_ROWS)
def test_observe(
    previous: Observation | None, record: LeaseRecord | None, now: float, changed_at: float
) -> None:
    observation = observe(previous, record, now)
    assert observation.record == record
    assert observation.changed_at == changed_at


def test_remote_time_going_backwards_is_just_a_change() -> None:
    """A holder whose wall clock jumps back still renews: we see a change, never 'expired'."""
    earlier = observe(None, rec(renew=WALL, version="1"), 0.0)
    later = observe(earlier, rec(renew=WALL - timedelta(hours=3), version="2"), 14.0)
    assert later.changed_at == 14.0
    assert not may_acquire(ME, later, 28.9, T)


# ------------------------------------------------------------------ may_acquire

MAY_ACQUIRE_ROWS = [
    # (observation, now, expected)
    pytest.param(None, 100.0, False, id="nothing observed yet"),
    pytest.param(Observation(None, 0.0), 0.0, True, id="no lease"),
    pytest.param(Observation(rec(holder=None), 0.0), 0.0, True, id="released (no holder)"),
    pytest.param(Observation(rec(holder=""), 0.0), 0.0, True, id="released (empty holder)"),
    pytest.param(Observation(rec(holder=ME), 0.0), 0.0, True, id="we hold it"),
    pytest.param(Observation(rec(), 10.0), 10.0, False, id="other, just seen"),
    pytest.param(Observation(rec(), 10.0), 24.999, False, id="other, unchanged < duration"),
    pytest.param(Observation(rec(), 10.0), 25.0, True, id="other, unchanged == duration"),
    pytest.param(Observation(rec(), 10.0), 40.0, True, id="other, unchanged > duration"),
    pytest.param(
        Observation(rec(duration=30.0), 10.0), 39.0, False, id="holder's longer duration is kept"
    ),
    pytest.param(
        Observation(rec(duration=30.0), 10.0), 40.0, True, id="holder's longer duration elapsed"
    ),
    pytest.param(
        Observation(rec(duration=1.0), 10.0), 24.0, False, id="a shorter declared one is not"
    ),
]


@pytest.mark.parametrize(("observation", "now", "expected"), MAY_ACQUIRE_ROWS)
def test_may_acquire(observation: Observation | None, now: float, expected: bool) -> None:
    assert may_acquire(ME, observation, now, T) is expected


UNTIL_ROWS = [
    # (observation, now, seconds until a claim may be written)
    pytest.param(None, 100.0, None, id="nothing observed: read first"),
    pytest.param(Observation(None, 0.0), 5.0, 0.0, id="no lease: now"),
    pytest.param(Observation(rec(holder=None), 0.0), 5.0, 0.0, id="released: now"),
    pytest.param(Observation(rec(), 10.0), 10.0, 15.0, id="other, just seen: a full duration"),
    pytest.param(Observation(rec(), 10.0), 24.0, 1.0, id="other, 14 s unchanged: 1 s left"),
    pytest.param(Observation(rec(), 10.0), 30.0, 0.0, id="other, expired: now"),
    pytest.param(Observation(rec(duration=30.0), 10.0), 20.0, 20.0, id="holder's longer duration"),
]


@pytest.mark.parametrize(("observation", "now", "expected"), UNTIL_ROWS)
def test_seconds_until_may_acquire(
    observation: Observation | None, now: float, expected: float | None
) -> None:
    got = seconds_until_may_acquire(ME, observation, now, T)
    assert got == (pytest.approx(expected) if expected is not None else None)
    if got is not None:  # consistent with may_acquire at and just before that moment
        assert may_acquire(ME, observation, now + got, T)
        if got > 0:
            assert not may_acquire(ME, observation, now + got - 0.01, T)


# ------------------------------------------------------------------ classify

MINE = Observation(rec(holder=ME, transitions=3), 50.0)

CLASSIFY_ROWS = [
    # (state, now, verdict)
    pytest.param(ElectorState(True, 50.0, MINE, 3), 50.0, Verdict.KEEP_RUNNING, id="just renewed"),
    pytest.param(
        ElectorState(True, 50.0, MINE, 3), 59.999, Verdict.KEEP_RUNNING, id="< renew deadline"
    ),
    pytest.param(
        ElectorState(True, 50.0, MINE, 3), 60.0, Verdict.STOP_NOW, id="renew deadline reached"
    ),
    pytest.param(ElectorState(True, 50.0, MINE, 3), 70.0, Verdict.STOP_NOW, id="past the deadline"),
    pytest.param(
        ElectorState(True, 50.0, Observation(rec(holder=OTHER, transitions=4), 51.0), 3),
        51.0,
        Verdict.STOP_NOW,
        id="we read another holder",
    ),
    pytest.param(
        ElectorState(True, 50.0, Observation(rec(holder=None), 51.0), 3),
        51.0,
        Verdict.STOP_NOW,
        id="we read it released",
    ),
    pytest.param(
        ElectorState(True, 50.0, Observation(None, 51.0), 3),
        51.0,
        Verdict.STOP_NOW,
        id="we read it deleted",
    ),
    pytest.param(
        ElectorState(True, 50.0, Observation(rec(holder=ME, transitions=5), 51.0), 3),
        51.0,
        Verdict.STOP_NOW,
        id="our identity with another token",
    ),
    pytest.param(
        ElectorState(True, None, MINE, 3), 50.0, Verdict.STOP_NOW, id="leading, never renewed"
    ),
    pytest.param(ElectorState(False, None, None), 0.0, Verdict.WAIT, id="nothing read yet"),
    pytest.param(
        ElectorState(False, None, Observation(None, 0.0)), 0.0, Verdict.MAY_ACQUIRE, id="no lease"
    ),
    pytest.param(
        ElectorState(False, None, Observation(rec(holder=None), 0.0)),
        0.0,
        Verdict.MAY_ACQUIRE,
        id="released",
    ),
    pytest.param(
        ElectorState(False, 40.0, MINE), 95.0, Verdict.MAY_ACQUIRE, id="ours, after we stopped"
    ),
    pytest.param(
        ElectorState(False, None, Observation(rec(), 10.0)), 24.9, Verdict.WAIT, id="other, live"
    ),
    pytest.param(
        ElectorState(False, None, Observation(rec(), 10.0)),
        25.0,
        Verdict.MAY_ACQUIRE,
        id="other, expired on our clock",
    ),
]


@pytest.mark.parametrize(("state", "now", "verdict"), CLASSIFY_ROWS)
def test_classify(state: ElectorState, now: float, verdict: Verdict) -> None:
    assert classify(ME, state, now, T) is verdict


def test_renew_deadline_counts_from_when_the_write_was_sent() -> None:
    assert renew_deadline(ElectorState(True, 50.0, MINE, 3), T) == 60.0
    assert renew_deadline(ElectorState(False, 50.0, MINE, 3), T) is None


@pytest.mark.parametrize(
    "timings",
    [T, LeaseTimings(1.5, 1.0, 0.2), LeaseTimings(60.0, 40.0, 5.0), LeaseTimings(2.0, 1.9, 1.5)],
)
@pytest.mark.parametrize("write_latency", [0.0, 0.3, 5.0])
def test_the_holder_stops_before_anyone_may_take_over(
    timings: LeaseTimings, write_latency: float
) -> None:
    """The margin, row by row: a holder's last successful write is sent at `sent` and lands
    `write_latency` later; a rival sees it no earlier than it lands. The holder's STOP_NOW
    instant is strictly before the rival's first MAY_ACQUIRE instant."""
    sent = 100.0
    landed = sent + write_latency
    written = rec(holder=ME, version="9", transitions=3, duration=timings.duration)
    holder = ElectorState(True, sent, Observation(written, landed), 3)
    rival_sees = observe(Observation(rec(holder=ME, version="8"), 90.0), written, landed)

    def first(predicate: object, start: float) -> float:
        t = start
        while not predicate(t):  # type: ignore[operator]
            t = round(t + 0.001, 3)
        return t

    stop_at = first(lambda t: classify(ME, holder, t, timings) is Verdict.STOP_NOW, sent)
    take_at = first(lambda t: may_acquire(OTHER, rival_sees, t, timings), landed)
    assert stop_at == pytest.approx(sent + timings.renew_deadline)
    assert stop_at < take_at
    assert take_at - stop_at >= timings.duration - timings.renew_deadline - 1e-9


# ------------------------------------------------------------------ next records

LATER = WALL + timedelta(seconds=30)


def test_acquire_creates_at_transitions_zero() -> None:
    claim = next_record_for_acquire(ME, None, LATER, T)
    assert claim == LeaseRecord(ME, 15.0, LATER, LATER, transitions=0, version="")


@pytest.mark.parametrize(
    ("current", "transitions"),
    [
        pytest.param(rec(holder=OTHER, transitions=3), 4, id="takeover from another holder"),
        pytest.param(rec(holder=None, transitions=3), 4, id="after a release"),
        pytest.param(rec(holder=ME, transitions=3), 3, id="re-taking our own record"),
    ],
)
def test_acquire_counts_holder_changes(current: LeaseRecord, transitions: int) -> None:
    claim = next_record_for_acquire(ME, current, LATER, T)
    assert claim.holder == ME
    assert claim.transitions == transitions
    assert claim.version == current.version  # the conditional write expects it
    assert claim.renew_time == LATER
    assert claim.lease_duration_s == T.duration
    expected_acquire = current.acquire_time if current.holder == ME else LATER
    assert claim.acquire_time == expected_acquire
    assert fencing_token(claim) == transitions


@pytest.mark.parametrize(
    ("current", "floor", "transitions"),
    [
        # The Lease was deleted and re-created: storage already saw token 5, so 6, not 0.
        pytest.param(None, 6, 6, id="creating the lease takes the floor"),
        pytest.param(None, 0, 0, id="creating without a floor starts at 0"),
        pytest.param(rec(holder=None, transitions=0), 6, 6, id="re-created lease, released"),
        pytest.param(rec(holder=OTHER, transitions=0), 6, 6, id="re-created lease, takeover"),
        # The floor is a minimum: a higher count is kept (+1 as always).
        pytest.param(rec(holder=OTHER, transitions=9), 6, 10, id="count above the floor: +1"),
        pytest.param(rec(holder=None, transitions=5), 6, 6, id="floor equal to count + 1"),
        # Re-taking our own record: unchanged below the floor, lifted to it above (a runner
        # that could not release after storage refused its token must not re-take it).
        pytest.param(rec(holder=ME, transitions=3), 0, 3, id="own record, no floor: unchanged"),
        pytest.param(rec(holder=ME, transitions=3), 3, 3, id="own record at the floor"),
        pytest.param(rec(holder=ME, transitions=3), 6, 6, id="own record below the floor"),
    ],
)
def test_a_claim_never_takes_a_token_below_the_floor(
    current: LeaseRecord | None, floor: int, transitions: int
) -> None:
    claim = next_record_for_acquire(ME, current, LATER, T, floor=floor)
    assert claim.holder == ME
    assert fencing_token(claim) == transitions
    assert claim.version == (current.version if current is not None else "")


def test_renew_moves_only_renew_time() -> None:
    current = rec(holder=ME)
    claim = next_record_for_renew(ME, current, LATER, T)
    assert claim == replace(current, renew_time=LATER)


def test_release_clears_the_holder_and_keeps_transitions() -> None:
    claim = next_record_for_release(ME, rec(holder=ME, transitions=3), LATER)
    assert claim.holder is None
    assert claim.transitions == 3
    assert claim.version == "7"
    assert may_acquire(OTHER, Observation(claim, 0.0), 0.0, T)


def test_only_the_holder_renews_or_releases() -> None:
    with pytest.raises(ValueError, match="held by 'other'"):
        next_record_for_renew(ME, rec(holder=OTHER), LATER, T)
    with pytest.raises(ValueError, match="held by 'other'"):
        next_record_for_release(ME, rec(holder=OTHER), LATER)
