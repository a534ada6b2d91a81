"""The sliding 24 hours: switched off at exactly the failure that makes it more than N."""

from __future__ import annotations

import pytest

from session_runner.dispatcher.failure_window import WINDOW_S, in_window, over_limit, recorded

DAY = WINDOW_S
T0 = 1_765_000_000.0


def test_the_21st_failure_in_24_hours_tombstones_a_limit_of_20() -> None:
    failures: tuple[float, ...] = ()
    verdicts = []
    for n in range(21):
        at = T0 + n * 3600 * 1.1  # 21 failures spread over 22 hours
        failures = recorded(failures, at, limit=20)
        verdicts.append(over_limit(failures, at, limit=20))
    assert verdicts == [False] * 20 + [True]


def test_failures_older_than_a_day_do_not_count() -> None:
    failures: tuple[float, ...] = ()
    for n in range(20):
        failures = recorded(failures, T0 + n, limit=20)
    later = T0 + DAY + 10  # the first 11 have left the window
    failures = recorded(failures, later, limit=20)
    assert in_window(failures, later) == 10
    assert not over_limit(failures, later, limit=20)


@pytest.mark.parametrize(
    ("failures", "at", "limit", "kept"),
    [
        ((), T0, 3, (T0,)),
        ((T0 - DAY, T0 - 10), T0, 3, (T0 - 10, T0)),  # exactly a day old: out
        ((T0 - 3, T0 - 2, T0 - 1), T0, 2, (T0 - 2, T0 - 1, T0)),  # at most limit + 1
        ((T0 + 5,), T0, 3, (T0, T0 + 5)),  # replicas' clocks: kept in order
    ],
)
def test_recorded(
    failures: tuple[float, ...], at: float, limit: int, kept: tuple[float, ...]
) -> None:
    assert recorded(failures, at, limit) == kept


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        recorded((), T0, 0)
