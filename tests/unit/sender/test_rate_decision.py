"""The pool-wide schedule: table rows per rule, and the window bound as a property."""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from session_runner.sender.ledger_decision import MAX_REASON_CHARS
from session_runner.sender.rate_decision import (
    DEFAULT_SAFETY,
    FLOAT_SLACK_S,
    RateState,
    capacity,
    reserve,
    spacing,
    throttle,
)

NOW = 1_750_000_000.0
RATE = 10.0
T = 1 / (RATE * DEFAULT_SAFETY) + FLOAT_SLACK_S  # 0.1031 s


def max_in_window(times: list[float], window_s: float = 1.0) -> int:
    """The most of `times` any half-open window [a, a + window_s) holds.

    A window holding k times can slide right until it starts at its first
    one and still hold them all, so windows starting at a time suffice.
    """
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window_s) - i for i, t in enumerate(ordered)), default=0
    )


def test_max_in_window_counts_half_open_windows() -> None:
    """The measuring stick itself: a time exactly one second later is in the next window."""
    assert max_in_window([0.0, 0.5, 1.0]) == 2
    assert max_in_window([0.0, 0.5, 0.999]) == 3
    assert max_in_window([]) == 0


# ------------------------------------------------------------------ spacing

SPACING_ROWS = [
    # (rate, safety, expected capacity, expected spacing)
    pytest.param(10.0, 0.97, 10.0, 1 / 9.7, id="whole rate"),
    pytest.param(10.5, 0.97, 10.0, 1 / 9.7, id="fractional rate: floored (a window holds 10)"),
    pytest.param(1000.0, 0.97, 1000.0, 1 / 970, id="the CRD's maximum"),
    pytest.param(1.0, 1.0, 1.0, 1.0, id="safety 1: exactly the rate"),
    pytest.param(0.5, 0.97, 0.5, 1 / 0.485, id="below 1/s: the rate itself"),
    pytest.param(0.1, 0.97, 0.1, 1 / 0.097, id="the CRD's minimum"),
]


@pytest.mark.parametrize(("rate", "safety", "cap", "gap"), SPACING_ROWS)
def test_spacing(rate: float, safety: float, cap: float, gap: float) -> None:
    assert capacity(rate) == cap
    assert spacing(rate, safety) == pytest.approx(gap + FLOAT_SLACK_S, rel=1e-12)


@pytest.mark.parametrize(
    ("rate", "safety"),
    [
        pytest.param(0.0, 0.97, id="zero rate"),
        pytest.param(-1.0, 0.97, id="negative rate"),
        pytest.param(math.inf, 0.97, id="infinite rate"),
        pytest.param(math.nan, 0.97, id="nan rate"),
        pytest.param(10.0, 0.0, id="zero safety"),
        pytest.param(10.0, 1.01, id="safety above 1"),
    ],
)
def test_spacing_refuses_nonsense(rate: float, safety: float) -> None:
    with pytest.raises(ValueError, match=r"rate_per_s|safety"):
        spacing(rate, safety)


# ------------------------------------------------------------------ reserve


@dataclass(frozen=True)
class ReserveRow:
    state: RateState
    n: int
    burst: int = 1
    rate: float = RATE
    horizon_s: float = 1.0
    lead_s: float = 0.0


RESERVE_ROWS = [
    # (row, expected send times relative to NOW, expected tat relative to NOW or None,
    #  expected retry_at relative to NOW when nothing is granted)
    pytest.param(
        ReserveRow(RateState(), 3),
        (0.0, T, 2 * T),
        3 * T,
        None,
        id="a pool that never sent: from now, T apart",
    ),
    pytest.param(
        ReserveRow(RateState(tat=NOW - 60), 2),
        (0.0, T),
        2 * T,
        None,
        id="an idle pool earns no credit (burst 1)",
    ),
    pytest.param(
        ReserveRow(RateState(tat=NOW + 0.25), 2),
        (0.25, 0.25 + T),
        0.25 + 2 * T,
        None,
        id="backlog: from tat",
    ),
    pytest.param(
        ReserveRow(RateState(tat=NOW, throttled_until=NOW + 0.5), 1),
        (0.5,),
        0.5 + T,
        None,
        id="throttled: not before throttled_until",
    ),
    pytest.param(
        ReserveRow(RateState(), 100),
        tuple(i * T for i in range(10)),
        10 * T,
        None,
        id="horizon: only 1 s worth (10 of 100)",
    ),
    pytest.param(
        ReserveRow(RateState(tat=NOW + 0.9), 5),
        (0.9,),
        0.9 + T,
        None,
        id="horizon: what still fits",
    ),
    pytest.param(
        ReserveRow(RateState(tat=NOW + 1.0), 1),
        (1.0,),
        1.0 + T,
        None,
        id="horizon: a slot exactly at its end fits",
    ),
    pytest.param(
        ReserveRow(RateState(tat=NOW + 1.5), 3),
        (),
        None,
        0.5,
        id="horizon full: nothing, ask again when the slot comes in reach",
    ),
    pytest.param(
        ReserveRow(RateState(tat=NOW, throttled_until=NOW + 60), 3),
        (),
        None,
        59.0,
        id="long throttle: nothing until it is one horizon away",
    ),
    pytest.param(
        ReserveRow(RateState(), 5, horizon_s=0.25),
        (0.0, T, 2 * T),
        3 * T,
        None,
        id="a shorter horizon reserves less",
    ),
    pytest.param(
        ReserveRow(RateState(), 5, burst=3),
        (0.0, 0.0, 0.0, T, 2 * T),
        5 * T,
        None,
        id="burst 3 after idle: three at once, then T apart",
    ),
    pytest.param(
        ReserveRow(RateState(), 3, lead_s=0.04),
        (0.04, 0.04 + T, 0.04 + 2 * T),
        0.04 + 3 * T,
        None,
        id="lead: a free slot starts when the reservation can reach the sender",
    ),
    pytest.param(
        ReserveRow(RateState(tat=NOW + 0.25), 2, lead_s=0.04),
        (0.25, 0.25 + T),
        0.25 + 2 * T,
        None,
        id="lead: backlog slots are further out anyway",
    ),
    pytest.param(
        ReserveRow(RateState(tat=NOW + 1.5), 1, lead_s=0.04),
        (),
        None,
        0.5,
        id="lead: a full horizon still says when to ask again",
    ),
    pytest.param(
        ReserveRow(RateState(), 2, rate=0.5),
        (0.0,),
        1 / 0.485 + FLOAT_SLACK_S,
        None,
        id="slow rate: the next slot is beyond the horizon",
    ),
]


@pytest.mark.parametrize(("row", "send_at", "tat", "retry_at"), RESERVE_ROWS)
def test_reserve(
    row: ReserveRow,
    send_at: tuple[float, ...],
    tat: float | None,
    retry_at: float | None,
) -> None:
    reservation = reserve(
        row.state,
        NOW,
        row.n,
        row.rate,
        burst=row.burst,
        horizon_s=row.horizon_s,
        lead_s=row.lead_s,
    )
    assert [t - NOW for t in reservation.send_at] == pytest.approx(send_at, abs=1e-6)
    if send_at:
        assert reservation.retry_at is None
        assert reservation.new_state.tat - NOW == pytest.approx(tat, abs=1e-6)
        assert reservation.new_state.version == row.state.version + 1
        assert reservation.new_state.throttled_until == row.state.throttled_until
    else:
        assert reservation.new_state == row.state  # nothing to write
        assert reservation.retry_at is not None
        assert reservation.retry_at - NOW == pytest.approx(retry_at)


def test_reserve_asking_again_at_retry_at_gets_the_slot() -> None:
    state = RateState(tat=NOW + 1.5, version=4)
    empty = reserve(state, NOW, 3, RATE)
    assert empty.retry_at is not None
    later = reserve(state, empty.retry_at, 3, RATE)
    assert later.send_at[0] == NOW + 1.5


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param({"n": 0}, id="nothing asked"),
        pytest.param({"burst": 0}, id="zero burst"),
        pytest.param({"horizon_s": 0.0}, id="no horizon"),
        pytest.param({"rate_per_s": 0.0}, id="zero rate"),
        pytest.param({"safety": 1.5}, id="safety above 1"),
        pytest.param({"lead_s": -0.01}, id="negative lead"),
        pytest.param({"lead_s": 1.0}, id="a lead as long as the horizon"),
    ],
)
def test_reserve_refuses_nonsense(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        reserve(RateState(), NOW, **{"n": 1, "rate_per_s": RATE, **arguments})  # type: ignore[arg-type]


# ------------------------------------------------------------------ throttle

THROTTLE_ROWS = [
    # (state, retry_after_s, reason, expected state (None: unchanged))
    pytest.param(
        RateState(tat=NOW + 0.2, version=3),
        30.0,
        "429",
        RateState(tat=NOW + 30, throttled_until=NOW + 30, throttle_reason="429", version=4),
        id="first throttle: until and tat move, reason kept",
    ),
    pytest.param(
        RateState(tat=NOW + 0.2, throttled_until=NOW + 60, throttle_reason="quota", version=3),
        30.0,
        "429",
        None,
        id="shorter than the one in force: unchanged, reason included",
    ),
    pytest.param(
        RateState(tat=NOW + 0.2, throttled_until=NOW + 30, throttle_reason="quota", version=3),
        30.0,
        "429",
        None,
        id="ending at the same instant: unchanged",
    ),
    pytest.param(
        RateState(tat=NOW + 0.2, throttled_until=NOW + 10, throttle_reason="429", version=3),
        30.0,
        "quota",
        RateState(tat=NOW + 30, throttled_until=NOW + 30, throttle_reason="quota", version=4),
        id="longer: moves forward with its reason",
    ),
    pytest.param(
        RateState(tat=NOW + 45, version=3),
        30.0,
        "429",
        RateState(tat=NOW + 45, throttled_until=NOW + 30, throttle_reason="429", version=4),
        id="tat already past it stays",
    ),
    pytest.param(
        RateState(version=3),
        0.0,
        "429 without Retry-After",
        RateState(
            tat=NOW, throttled_until=NOW, throttle_reason="429 without Retry-After", version=4
        ),
        id="zero wait: the pool restarts from now",
    ),
    pytest.param(
        RateState(version=3),
        1.0,
        "x" * 5000,
        RateState(
            tat=NOW + 1,
            throttled_until=NOW + 1,
            throttle_reason="x" * (MAX_REASON_CHARS - 1) + "…",
            version=4,
        ),
        id="a vendor's long reason is cut",
    ),
]


@pytest.mark.parametrize(("state", "retry_after_s", "reason", "expected"), THROTTLE_ROWS)
def test_throttle(
    state: RateState, retry_after_s: float, reason: str, expected: RateState | None
) -> None:
    assert throttle(state, NOW, retry_after_s, reason) == (expected or state)


@pytest.mark.parametrize("retry_after_s", [-1.0, math.nan, math.inf])
def test_throttle_refuses_nonsense(retry_after_s: float) -> None:
    with pytest.raises(ValueError, match="retry_after_s"):
        throttle(RateState(), NOW, retry_after_s, "429")


def test_a_throttle_delays_the_next_reservation_and_is_reported() -> None:
    state = reserve(RateState(), NOW, 5, RATE).new_state
    throttled = throttle(state, NOW + 0.1, 2.0, "429")
    assert throttled.throttled(NOW + 2.0)
    assert not throttled.throttled(NOW + 2.1)
    later = reserve(throttled, NOW + 1.5, 3, RATE)
    assert later.send_at[0] == pytest.approx(NOW + 2.1)


# ------------------------------------------------------------------ utilisation

BACKLOG_ROWS = [
    pytest.param(10.0, id="10/s"),
    pytest.param(80.0, id="80/s (a Cloud API number's default)"),
    pytest.param(1000.0, id="1000/s"),
    pytest.param(20.5, id="20.5/s (floored to 20)"),
]


@pytest.mark.parametrize("rate", BACKLOG_ROWS)
def test_backlog_uses_at_least_95_percent_and_never_more_than_the_limit(rate: float) -> None:
    """Replicas keep asking as soon as they may (a backlog): measure 10 s of the schedule."""
    state, now = RateState(), NOW
    times: list[float] = []
    while now < NOW + 10:
        reservation = reserve(state, now, 4, rate)
        if reservation.send_at:
            state = reservation.new_state
            times.extend(reservation.send_at)
        else:
            assert reservation.retry_at is not None
            now = reservation.retry_at
    busiest = max_in_window(times)
    assert busiest <= rate
    assert busiest >= 0.95 * math.floor(rate)
    assert (len(times) - 1) / (times[-1] - times[0]) >= 0.95 * math.floor(rate)


# ------------------------------------------------------------------ the window bound


@st.composite
def replicas_racing(draw: st.DrawFn) -> tuple[float, float, list[tuple[str, float, float, int]]]:
    """A rate, a safety, and a sequence of serialised operations by replicas with skewed clocks.

    Each operation: (kind, the writer's now, throttle length, n). Clocks may
    go back between operations (another replica's clock is behind).
    """
    rate = draw(st.one_of(st.integers(1, 1000).map(float), st.floats(0.1, 1000)))
    safety = draw(st.floats(0.5, 1.0))
    operations = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["reserve", "reserve", "reserve", "throttle"]),
                st.floats(-0.5, 3.0),  # the writer's clock offset from the previous operation
                st.floats(0.0, 2.0),
                st.integers(1, 64),
            ),
            min_size=1,
            max_size=60,
        )
    )
    return rate, safety, operations


@settings(max_examples=300, deadline=None)
@given(replicas_racing())
def test_no_one_second_window_holds_more_than_ceil_of_capacity_times_safety(
    case: tuple[float, float, list[tuple[str, float, float, int]]],
) -> None:
    rate, safety, operations = case
    state, now = RateState(), NOW
    granted: list[float] = []
    for kind, step, wait_s, n in operations:
        now += step
        if kind == "throttle":
            state = throttle(state, now, wait_s, "429")
            continue
        reservation = reserve(state, now, n, rate, safety=safety)
        for at in reservation.send_at:
            assert at >= now
            assert at >= state.throttled_until
            assert at <= now + 1.0
        state = reservation.new_state
        granted.extend(reservation.send_at)
    # in the order granted, every gap is at least 1/(capacity·safety), in floats
    gaps = [b - a for a, b in itertools.pairwise(granted)]
    assert all(gap >= 1 / (capacity(rate) * safety) for gap in gaps)
    bound = math.ceil(capacity(rate) * safety)
    assert max_in_window(granted) <= bound
    assert bound <= max(rate, 1.0)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(1, 1000),
    jitter=st.lists(st.floats(0.0, 0.03), min_size=1, max_size=400),
)
def test_arrivals_with_up_to_30ms_of_jitter_stay_within_the_limit(
    rate: int, jitter: list[float]
) -> None:
    """Why safety 0.97: send times plus any latency spread ≤ 30 ms still fit every window."""
    times: list[float] = []
    state, now = RateState(), NOW
    while len(times) < len(jitter):
        reservation = reserve(state, now, len(jitter) - len(times), float(rate))
        if not reservation.send_at:
            assert reservation.retry_at is not None
            now = reservation.retry_at
            continue
        state = reservation.new_state
        times.extend(reservation.send_at)
    arrivals = [t + 0.2 + j for t, j in zip(times, jitter, strict=True)]
    assert max_in_window(arrivals) <= rate


def test_without_the_safety_margin_jitter_breaks_the_limit() -> None:
    """The counter-example that makes the margin necessary (so the test above can fail)."""
    first = reserve(RateState(), NOW, 11, 10.0, safety=1.0)  # a horizon's worth: 10
    second = reserve(first.new_state, NOW + 0.5, 1, 10.0, safety=1.0)
    times = [*first.send_at, *second.send_at]
    assert max_in_window(times) == 10  # on time: exactly the limit
    arrivals = [t + (0.03 if i == 0 else 0.0) for i, t in enumerate(times)]
    assert max_in_window(arrivals) == 11


@pytest.mark.parametrize(
    ("late_by", "too_late"),
    [
        (-0.5, False),  # woke early (the sleep was cut short): wait on, then send
        (0.0, False),
        (0.0099, False),  # within the tolerance: the slot is still good
        (0.0101, True),  # later: it would crowd the next second's slots
        (0.5, True),
    ],
)
def test_a_sender_late_for_its_slot_takes_a_new_one(late_by: float, too_late: bool) -> None:
    from session_runner.sender.rate_decision import too_late_for_slot

    send_at = 1_765_000_000.0
    assert too_late_for_slot(send_at, send_at + late_by) is too_late


@pytest.mark.parametrize(
    ("times", "wants", "shares"),
    [
        ((1.0, 2.0, 3.0, 4.0), (2, 2), ((1.0, 2.0), (3.0, 4.0))),
        ((1.0, 2.0, 3.0), (2, 2), ((1.0, 2.0), (3.0,))),  # the horizon held fewer
        ((1.0,), (3, 1, 1), ((1.0,), (), ())),  # first come, first served
        ((1.0, 2.0), (1,), ((1.0,),)),  # more than asked: the rest is not handed out
        ((), (1, 1), ((), ())),
    ],
)
def test_one_reservation_is_shared_first_come_first_served(
    times: tuple[float, ...], wants: tuple[int, ...], shares: tuple[tuple[float, ...], ...]
) -> None:
    from session_runner.sender.rate_decision import share_out

    assert tuple(share_out(times, wants)) == shares


def test_a_share_of_nothing_is_refused() -> None:
    from session_runner.sender.rate_decision import share_out

    with pytest.raises(ValueError, match="at least 1"):
        share_out((1.0,), (1, 0))
