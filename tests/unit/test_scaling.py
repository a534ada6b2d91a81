"""The scaling rule, one table row per case: how many senders a queue wants, and when
the replicas follow (the HPA's: up at once, down to the window's highest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wafleet_operator.scaling import ScaleDecision, ScaleReason, desired_replicas, scale_decision

# ------------------------------------------------------------------ desired_replicas

DESIRED_ROWS = [
    # (visible, in_flight, backlog_per_replica, min, max, expected)
    pytest.param(0, 0, 100, 0, 10, 0, id="empty queue, min 0: scale to zero"),
    pytest.param(0, 0, 100, 2, 10, 2, id="empty queue keeps the minimum"),
    pytest.param(1, 0, 100, 0, 10, 1, id="one visible message wakes an idle pool"),
    pytest.param(1, 0, 1_000_000, 0, 10, 1, id="activation however large the backlog per replica"),
    pytest.param(0, 1, 100, 0, 10, 1, id="an in-flight message keeps its sender"),
    pytest.param(100, 0, 100, 0, 10, 1, id="exactly one replica's backlog"),
    pytest.param(101, 0, 100, 0, 10, 2, id="one message over rounds up"),
    pytest.param(150, 50, 100, 0, 10, 2, id="visible and in flight both count"),
    pytest.param(250, 0, 100, 1, 10, 3, id="ceiling of 2.5"),
    pytest.param(5000, 0, 100, 0, 10, 10, id="capped at max"),
    pytest.param(50, 0, 100, 3, 10, 3, id="below min is raised to min"),
    pytest.param(7, 0, 1, 0, 1000, 7, id="backlog of one: a replica per message"),
    pytest.param(10**18 + 1, 0, 10**18, 0, 10, 2, id="exact for numbers floats would round"),
    pytest.param(3, 0, 100, 1, 1, 1, id="min equals max: always that"),
]


@pytest.mark.parametrize(("visible", "in_flight", "per", "lo", "hi", "expected"), DESIRED_ROWS)
def test_desired_replicas(
    visible: int, in_flight: int, per: int, lo: int, hi: int, expected: int
) -> None:
    got = desired_replicas(
        visible, in_flight, backlog_per_replica=per, min_replicas=lo, max_replicas=hi
    )
    assert got == expected


@pytest.mark.parametrize(
    ("visible", "in_flight", "per", "lo", "hi", "why"),
    [
        pytest.param(1, 0, 0, 0, 10, "backlog_per_replica", id="zero backlog per replica"),
        pytest.param(-1, 0, 100, 0, 10, "never negative", id="negative visible"),
        pytest.param(0, -1, 100, 0, 10, "never negative", id="negative in flight"),
        pytest.param(0, 0, 100, 5, 2, "min <= max", id="min above max"),
        pytest.param(0, 0, 100, -1, 2, "0 <= min", id="negative min"),
    ],
)
def test_desired_replicas_refuses_impossible_inputs(
    visible: int, in_flight: int, per: int, lo: int, hi: int, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        desired_replicas(
            visible, in_flight, backlog_per_replica=per, min_replicas=lo, max_replicas=hi
        )


# ------------------------------------------------------------------ scale_decision

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = 300.0


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


UP, DOWN, HOLD, STEADY = (
    ScaleReason.SCALE_UP,
    ScaleReason.SCALE_DOWN,
    ScaleReason.STABILIZING,
    ScaleReason.STEADY,
)

DECISION_ROWS = [
    # (current, desired, last_scale_time, recent_desired, window, (min, max), replicas, reason)
    pytest.param(2, 2, None, [], WINDOW, (0, 10), 2, STEADY, id="steady"),
    pytest.param(2, 7, None, [], WINDOW, (0, 10), 7, UP, id="up at once"),
    pytest.param(
        2,
        7,
        ago(1),
        [(ago(1), 2)],
        WINDOW,
        (0, 10),
        7,
        UP,
        id="up at once even right after a scale",
    ),
    pytest.param(0, 1, None, [], WINDOW, (0, 10), 1, UP, id="activation from zero"),
    pytest.param(5, 2, None, [], WINDOW, (0, 10), 2, DOWN, id="down with no history in the window"),
    pytest.param(
        5, 2, None, [(ago(100), 5)], WINDOW, (0, 10), 5, HOLD, id="held by a 5 within the window"
    ),
    pytest.param(
        5,
        2,
        None,
        [(ago(200), 4), (ago(100), 3)],
        WINDOW,
        (0, 10),
        4,
        DOWN,
        id="down only to the window's highest",
    ),
    pytest.param(
        5,
        2,
        None,
        [(ago(400), 9), (ago(100), 3)],
        WINDOW,
        (0, 10),
        3,
        DOWN,
        id="a recommendation older than the window no longer counts",
    ),
    pytest.param(
        5, 2, None, [(ago(300), 5)], WINDOW, (0, 10), 2, DOWN, id="the window's start is excluded"
    ),
    pytest.param(
        5, 2, None, [(ago(299), 5)], WINDOW, (0, 10), 5, HOLD, id="one second inside still holds"
    ),
    pytest.param(
        5,
        2,
        None,
        [(ago(50), 9)],
        WINDOW,
        (0, 10),
        5,
        HOLD,
        id="a higher recommendation never scales up on the way down",
    ),
    pytest.param(
        5, 0, None, [(ago(10), 5)], 0.0, (0, 10), 0, DOWN, id="window 0: down at once, to zero"
    ),
    pytest.param(
        5,
        2,
        ago(60),
        [],
        WINDOW,
        (0, 10),
        5,
        HOLD,
        id="after a restart the last scale holds for a window",
    ),
    pytest.param(
        5,
        2,
        ago(301),
        [],
        WINDOW,
        (0, 10),
        2,
        DOWN,
        id="a last scale older than the window does not",
    ),
    pytest.param(
        5,
        2,
        NOW + timedelta(days=365),
        [(NOW + timedelta(days=365), 9)],
        WINDOW,
        (0, 10),
        2,
        DOWN,
        id="times after now (another clock) count as nothing",
    ),
    pytest.param(
        8,
        1,
        ago(10),
        [(ago(10), 8)],
        WINDOW,
        (0, 3),
        3,
        ScaleReason.ABOVE_MAX,
        id="max lowered: down to it at once, window or not",
    ),
    pytest.param(
        8, 1, None, [], WINDOW, (0, 3), 1, ScaleReason.ABOVE_MAX, id="max lowered, no history"
    ),
    pytest.param(
        0,
        0,
        None,
        [],
        WINDOW,
        (2, 10),
        2,
        ScaleReason.BELOW_MIN,
        id="min raised: up to it at once",
    ),
    pytest.param(
        3,
        12,
        None,
        [],
        WINDOW,
        (0, 10),
        10,
        UP,
        id="a desired value above max is capped",
    ),
    pytest.param(
        3,
        0,
        None,
        [],
        WINDOW,
        (2, 10),
        2,
        DOWN,
        id="a desired value below min is raised",
    ),
    pytest.param(
        4, 1, None, [(ago(30), 50)], WINDOW, (0, 6), 4, HOLD, id="history above max counts as max"
    ),
]


@pytest.mark.parametrize(
    ("current", "desired", "last", "recent", "window", "bounds", "replicas", "reason"),
    DECISION_ROWS,
)
def test_scale_decision(
    current: int,
    desired: int,
    last: datetime | None,
    recent: list[tuple[datetime, int]],
    window: float,
    bounds: tuple[int, int],
    replicas: int,
    reason: ScaleReason,
) -> None:
    lo, hi = bounds
    decision = scale_decision(
        current, desired, NOW, last, recent, window, min_replicas=lo, max_replicas=hi
    )
    assert decision == ScaleDecision(replicas=replicas, changed=replicas != current, reason=reason)
    assert lo <= decision.replicas <= hi


def test_the_default_window_is_the_hpas_five_minutes() -> None:
    held = scale_decision(5, 1, NOW, None, [(ago(299), 5)], min_replicas=0, max_replicas=10)
    free = scale_decision(5, 1, NOW, None, [(ago(301), 5)], min_replicas=0, max_replicas=10)
    assert (held.replicas, free.replicas) == (5, 1)


@pytest.mark.parametrize(
    ("current", "window", "bounds", "why"),
    [
        pytest.param(-1, WINDOW, (0, 10), "current >= 0", id="negative current"),
        pytest.param(1, -1.0, (0, 10), "window >= 0", id="negative window"),
        pytest.param(1, WINDOW, (4, 3), "min <= max", id="min above max"),
    ],
)
def test_scale_decision_refuses_impossible_inputs(
    current: int, window: float, bounds: tuple[int, int], why: str
) -> None:
    lo, hi = bounds
    with pytest.raises(ValueError, match=why):
        scale_decision(current, 1, NOW, None, [], window, min_replicas=lo, max_replicas=hi)
