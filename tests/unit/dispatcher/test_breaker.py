"""The circuit breaker's table: when a subscriber is tried, and when it is left alone."""

from __future__ import annotations

import pytest

from session_runner.dispatcher.breaker import Breaker, after, comes_back_at, cooldown, probe

NOW = 1_765_000_000.0


@pytest.mark.parametrize(
    ("breaker", "succeeded", "expected"),
    [
        pytest.param(Breaker(), True, Breaker(), id="closed, success: closed"),
        pytest.param(Breaker(), False, Breaker(1), id="closed, a failure: counted"),
        pytest.param(Breaker(3), False, Breaker(4), id="four in a row: still closed"),
        pytest.param(Breaker(4), False, Breaker(5, NOW + 30, opened=1), id="the fifth opens it"),
        pytest.param(Breaker(4), True, Breaker(), id="a success resets the count"),
        pytest.param(
            Breaker(5, NOW - 1, probing=True, opened=1),
            False,
            Breaker(6, NOW + 60, opened=2),
            id="the probe failed: open again, twice as long",
        ),
        pytest.param(
            Breaker(9, NOW - 1, probing=True, opened=6),
            False,
            Breaker(10, NOW + 900, opened=7),
            id="the cooldown stops growing at 900 s",
        ),
        pytest.param(
            Breaker(5, NOW - 1, probing=True, opened=3),
            True,
            Breaker(),
            id="the probe worked: closed, the next opening short again",
        ),
        pytest.param(
            Breaker(5, NOW + 20, opened=1),
            False,
            Breaker(6, NOW + 20, opened=1),
            id="a failure from before it opened: counted, the cooldown unchanged",
        ),
        pytest.param(
            Breaker(5, NOW + 20, opened=1),
            True,
            Breaker(),
            id="a success from before it opened: closed (it is up)",
        ),
    ],
)
def test_after(breaker: Breaker, succeeded: bool, expected: Breaker) -> None:
    assert after(breaker, succeeded, NOW, threshold=5, cooldown_s=30) == expected


@pytest.mark.parametrize(
    ("breaker", "allows"),
    [
        pytest.param(Breaker(), True, id="closed"),
        pytest.param(Breaker(3), True, id="failing, below the threshold"),
        pytest.param(Breaker(5, NOW + 10, opened=1), False, id="open: cooling down"),
        pytest.param(Breaker(5, NOW, opened=1), True, id="cooldown over: one probe"),
        pytest.param(Breaker(5, NOW - 5, probing=True, opened=1), False, id="the probe is out"),
    ],
)
def test_allows(breaker: Breaker, allows: bool) -> None:
    assert breaker.allows(NOW) is allows


@pytest.mark.parametrize(
    ("opened", "seconds"),
    [(0, 30.0), (1, 30.0), (2, 60.0), (3, 120.0), (5, 480.0), (6, 900.0), (40, 900.0)],
)
def test_cooldown_doubles_up_to_the_cap(opened: int, seconds: float) -> None:
    assert cooldown(opened, base_s=30, max_s=900) == seconds


@pytest.mark.parametrize(
    ("breaker", "draw", "expected"),
    [
        pytest.param(Breaker(5, NOW + 20, opened=1), 0.0, NOW + 20, id="open: at the reopening"),
        pytest.param(
            Breaker(5, NOW + 20, opened=1), 0.5, NOW + 27.5, id="spread over half a cooldown"
        ),
        pytest.param(
            Breaker(6, NOW + 50, opened=2), 0.99, NOW + 50 + 29.7, id="the second opening: 60 s"
        ),
        pytest.param(
            Breaker(5, NOW - 3, probing=True, opened=1),
            0.0,
            NOW + 30,
            id="the probe out: a cooldown from now, not the reopening already past",
        ),
    ],
)
def test_comes_back_at(breaker: Breaker, draw: float, expected: float) -> None:
    assert comes_back_at(breaker, NOW, draw, cooldown_s=30) == pytest.approx(expected)


def test_held_back_deliveries_never_come_back_before_now() -> None:
    for breaker in (Breaker(5, NOW - 100, probing=True, opened=9), Breaker(5, NOW + 1, opened=1)):
        assert comes_back_at(breaker, NOW, 0.0) > NOW


def test_a_probe_is_marked_only_on_an_open_breaker() -> None:
    assert probe(Breaker()) == Breaker()
    assert probe(Breaker(5, NOW, opened=2)) == Breaker(5, NOW, probing=True, opened=2)
