"""The circuit breaker's table: when a subscriber is tried, and when it is left alone."""

from __future__ import annotations

import pytest

from session_runner.dispatcher.breaker import Breaker, after, probe

NOW = 1_765_000_000.0


@pytest.mark.parametrize(
    ("breaker", "succeeded", "expected"),
    [
        pytest.param(Breaker(), True, Breaker(), id="closed, success: closed"),
        pytest.param(Breaker(), False, Breaker(1), id="closed, a failure: counted"),
        pytest.param(Breaker(3), False, Breaker(4), id="four in a row: still closed"),
        pytest.param(Breaker(4), False, Breaker(5, NOW + 30), id="the fifth opens it"),
        pytest.param(Breaker(4), True, Breaker(), id="a success resets the count"),
        pytest.param(
            Breaker(5, NOW - 1, probing=True),
            False,
            Breaker(6, NOW + 30),
            id="the probe failed: open again",
        ),
        pytest.param(
            Breaker(5, NOW - 1, probing=True), True, Breaker(), id="the probe worked: closed"
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
        pytest.param(Breaker(5, NOW + 10), False, id="open: cooling down"),
        pytest.param(Breaker(5, NOW), True, id="cooldown over: one probe"),
        pytest.param(Breaker(5, NOW - 5, probing=True), False, id="the probe is out"),
    ],
)
def test_allows(breaker: Breaker, allows: bool) -> None:
    assert breaker.allows(NOW) is allows


def test_a_probe_is_marked_only_on_an_open_breaker() -> None:
    assert probe(Breaker()) == Breaker()
    assert probe(Breaker(5, NOW)) == Breaker(5, NOW, probing=True)
