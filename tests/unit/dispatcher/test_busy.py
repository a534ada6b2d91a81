"""The table of what a delivery does when its subscriber has no free attempt slot."""

from __future__ import annotations

import pytest

from session_runner.dispatcher.busy import WhenBusy, when_busy

NOW = 1_765_000_000.0


@pytest.mark.parametrize(
    ("started", "timeout_s", "last_succeeded", "expected"),
    [
        pytest.param(
            [NOW - 0.01] * 8,
            5.0,
            True,
            WhenBusy(1.0, NOW + 2.0),
            id="answering: wait here a second, then a second on the retry queue",
        ),
        pytest.param(
            [NOW - 1.0, NOW - 0.5],
            5.0,
            None,
            WhenBusy(0.0, NOW + 4.0),
            id="nothing finished yet: back when the oldest attempt has timed out",
        ),
        pytest.param(
            [NOW - 2.0, NOW],
            5.0,
            False,
            WhenBusy(0.0, NOW + 3.0),
            id="failing: back when the oldest attempt has timed out",
        ),
        pytest.param(
            [NOW - 4.9],
            5.0,
            False,
            WhenBusy(0.0, NOW + 1.0),
            id="a slot frees any moment: still at least a second away",
        ),
        pytest.param(
            [NOW - 60.0],
            30.0,
            None,
            WhenBusy(0.0, NOW + 1.0),
            id="an attempt past its timeout (being torn down): a second",
        ),
        pytest.param([], 5.0, None, WhenBusy(0.0, NOW + 5.0), id="no start known: a whole timeout"),
    ],
)
def test_when_busy(
    started: list[float], timeout_s: float, last_succeeded: bool | None, expected: WhenBusy
) -> None:
    assert when_busy(started, timeout_s, last_succeeded, NOW) == expected


@pytest.mark.parametrize(
    ("draw", "back_at"), [(0.0, NOW + 4.0), (0.5, NOW + 5.25), (0.99, NOW + 6.475)]
)
def test_deliveries_sent_back_are_spread_over_half_a_timeout(draw: float, back_at: float) -> None:
    assert when_busy([NOW - 1.0], 5.0, None, NOW, draw).postpone_to == pytest.approx(back_at)


def test_a_busy_delivery_never_comes_back_at_once() -> None:
    for last in (True, False, None):
        assert when_busy([NOW - 100], 0.5, last, NOW).postpone_to >= NOW + 1.0
