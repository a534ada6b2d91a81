"""The answer table: what every kind of answer to an attempt makes the dispatcher do."""

from __future__ import annotations

import pytest

from session_runner.dispatcher.retry_decision import (
    MAX_QUEUE_DELAY_S,
    Answer,
    Decision,
    Failure,
    Verdict,
    after_attempt,
    hold_for,
    jittered,
)

SVIX = (5, 300, 1800, 7200, 18000, 36000, 36000)
MIDDLE = 0.5  # a jitter draw that moves nothing


@pytest.mark.parametrize(
    ("answer", "attempt", "expected"),
    [
        pytest.param(Answer(status=200), 1, Decision(Verdict.DELIVERED), id="200"),
        pytest.param(Answer(status=204), 3, Decision(Verdict.DELIVERED), id="204 on a retry"),
        pytest.param(
            Answer(status=410),
            1,
            Decision(Verdict.TOMBSTONE, reason="HTTP 410: the subscriber is gone"),
            id="410 switches off at once",
        ),
        pytest.param(
            Answer(status=503), 1, Decision(Verdict.RETRY, 5.0, "HTTP 503"), id="503: first delay"
        ),
        pytest.param(
            Answer(status=500), 2, Decision(Verdict.RETRY, 300.0, "HTTP 500"), id="500: second"
        ),
        pytest.param(
            Answer(status=429), 7, Decision(Verdict.RETRY, 36000.0, "HTTP 429"), id="429: last"
        ),
        pytest.param(
            Answer(status=502),
            8,
            Decision(Verdict.EXHAUSTED, reason="HTTP 502 after 8 attempts"),
            id="schedule run out",
        ),
        pytest.param(
            Answer(status=408), 1, Decision(Verdict.RETRY, 5.0, "HTTP 408"), id="408 retries"
        ),
        pytest.param(
            Answer(failure=Failure.TIMEOUT),
            1,
            Decision(Verdict.RETRY, 5.0, "timeout"),
            id="timeout retries",
        ),
        pytest.param(
            Answer(failure=Failure.CONNECT, detail="ClientConnectorError"),
            3,
            Decision(Verdict.RETRY, 1800.0, "connect: ClientConnectorError"),
            id="no connection retries",
        ),
        pytest.param(
            Answer(failure=Failure.BROKEN),
            1,
            Decision(Verdict.RETRY, 5.0, "broken"),
            id="a broken answer retries",
        ),
        pytest.param(
            Answer(failure=Failure.REFUSED_ADDRESS, detail="127.0.0.1 is a loopback address"),
            1,
            Decision(Verdict.FAILED, reason="refused-address: 127.0.0.1 is a loopback address"),
            id="a refused address never retries",
        ),
        pytest.param(
            Answer(status=400), 1, Decision(Verdict.FAILED, reason="HTTP 400"), id="400 fails"
        ),
        pytest.param(
            Answer(status=401), 1, Decision(Verdict.FAILED, reason="HTTP 401"), id="401 fails"
        ),
        pytest.param(
            Answer(status=404), 1, Decision(Verdict.FAILED, reason="HTTP 404"), id="404 fails"
        ),
        pytest.param(
            Answer(status=301),
            1,
            Decision(Verdict.FAILED, reason="HTTP 301"),
            id="a redirect is not followed: fails",
        ),
        pytest.param(
            Answer(status=503, retry_after_s=120.0),
            1,
            Decision(Verdict.RETRY, 120.0, "HTTP 503"),
            id="Retry-After longer than the schedule wins",
        ),
        pytest.param(
            Answer(status=429, retry_after_s=1.0),
            2,
            Decision(Verdict.RETRY, 300.0, "HTTP 429"),
            id="a shorter Retry-After does not hurry the schedule",
        ),
        pytest.param(
            Answer(status=429, retry_after_s=10**9),
            1,
            Decision(Verdict.RETRY, 86400.0, "HTTP 429"),
            id="an absurd Retry-After is capped at a day",
        ),
    ],
)
def test_after_attempt(answer: Answer, attempt: int, expected: Decision) -> None:
    assert after_attempt(answer, attempt, SVIX, jitter_ratio=0.2, draw=MIDDLE) == expected


def test_every_answer_but_success_counts_as_a_failure() -> None:
    assert not after_attempt(Answer(status=200), 1, SVIX, jitter_ratio=0, draw=0).failed
    for answer in (Answer(status=503), Answer(status=410), Answer(status=400)):
        assert after_attempt(answer, 1, SVIX, jitter_ratio=0, draw=0).failed


@pytest.mark.parametrize(
    ("delay", "ratio", "draw", "expected"),
    [
        (100.0, 0.2, 0.0, 80.0),
        (100.0, 0.2, 0.5, 100.0),
        (100.0, 0.2, 0.999999, pytest.approx(120.0, abs=1e-3)),
        (100.0, 0.0, 0.9, 100.0),
        (5.0, 1.0, 0.0, 0.0),
    ],
)
def test_jitter_moves_a_delay_by_at_most_its_ratio(
    delay: float, ratio: float, draw: float, expected: float
) -> None:
    assert jittered(delay, ratio, draw) == expected


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        after_attempt(Answer(status=500), 0, SVIX, jitter_ratio=0, draw=0)


def test_an_answer_is_a_status_or_a_failure() -> None:
    with pytest.raises(ValueError, match="either"):
        Answer()
    with pytest.raises(ValueError, match="either"):
        Answer(status=200, failure=Failure.TIMEOUT)


@pytest.mark.parametrize(
    ("due_in", "hold"),
    [
        (-5.0, 0),  # overdue: now
        (0.0, 0),
        (0.2, 1),  # whole seconds, never early
        (300.0, 300),
        (900.0, MAX_QUEUE_DELAY_S),
        (7200.0, MAX_QUEUE_DELAY_S),  # two hours: 900 s at a time
    ],
)
def test_hold_for(due_in: float, hold: int) -> None:
    now = 1_765_000_000.0
    assert hold_for(now + due_in, now) == hold
