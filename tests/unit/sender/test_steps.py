"""`after_send`: what a vendor's answer means for the ledger, the queue message and the pool."""

from __future__ import annotations

import pytest

from session_runner.sender.steps import (
    AUTH_PAUSE_S,
    MAX_DELAY_S,
    LedgerStep,
    QueueStep,
    Renew,
    Steps,
    after_send,
    hand_back_step,
    last_receive,
    renew_delay_s,
    renew_when,
)
from session_runner.sender.vendors.base import Outcome, SendResult

L, Q = LedgerStep, QueueStep


def result(
    outcome: Outcome, code: str | None = None, retry_after: float | None = None
) -> SendResult:
    return SendResult(
        outcome, "SM1" if outcome is Outcome.SENT else None, code, "detail", retry_after
    )


@pytest.mark.parametrize(
    ("case", "answer", "receive_count", "expected"),
    [
        ("sent: record, delete", result(Outcome.SENT), 1, Steps(L.RECORD_SENT, Q.DELETE)),
        (
            "permanent: failed with the vendor's code, dead-lettered",
            result(Outcome.PERMANENT, "21211"),
            1,
            Steps(L.RECORD_FAILED, Q.DEAD_LETTER, reason="permanent: 21211: detail"),
        ),
        (
            "maybe sent: keep the claim, come back when it expired",
            result(Outcome.UNKNOWN),
            1,
            Steps(L.KEEP, Q.RETRY_AFTER, delay_s=42.0),
        ),
        (
            "maybe sent, even on the last receive: never failed without asking the vendor",
            result(Outcome.UNKNOWN),
            5,
            Steps(L.KEEP, Q.RETRY_AFTER, delay_s=42.0),
        ),
        (
            "retryable, first receive: release, back off 5 s",
            result(Outcome.RETRY, "131000"),
            1,
            Steps(L.RELEASE, Q.RETRY_AFTER, delay_s=5.0, reason="retry: 131000: detail"),
        ),
        (
            "retryable, third receive: 20 s",
            result(Outcome.RETRY),
            3,
            Steps(L.RELEASE, Q.RETRY_AFTER, delay_s=20.0, reason="retry: detail"),
        ),
        (
            "retryable with the vendor's own delay",
            result(Outcome.RETRY, "131056", retry_after=6.0),
            1,
            Steps(L.RELEASE, Q.RETRY_AFTER, delay_s=6.0, reason="retry: 131056: detail"),
        ),
        (
            "retryable on the last receive: failed, with why, by us (not SQS's silent redrive)",
            result(Outcome.RETRY, "131000"),
            5,
            Steps(
                L.RECORD_FAILED,
                Q.DEAD_LETTER,
                reason="gave up after 5 attempts; last: retry: 131000: detail",
            ),
        ),
        (
            "throttled: the whole pool pauses for Retry-After",
            result(Outcome.THROTTLE, "20429", retry_after=3.0),
            1,
            Steps(
                L.RELEASE,
                Q.RETRY_AFTER,
                delay_s=3.0,
                reason="throttle: 20429: detail",
                pause_pool_s=3.0,
            ),
        ),
        (
            "throttled without Retry-After: a one-second pause",
            result(Outcome.THROTTLE, "130429"),
            1,
            Steps(
                L.RELEASE,
                Q.RETRY_AFTER,
                delay_s=1.0,
                reason="throttle: 130429: detail",
                pause_pool_s=1.0,
            ),
        ),
        (
            "credentials refused: release, the pool pauses until a person acts",
            result(Outcome.AUTH, "20003"),
            1,
            Steps(
                L.RELEASE,
                Q.RETRY_AFTER,
                delay_s=AUTH_PAUSE_S,
                reason="auth: 20003: detail",
                pause_pool_s=AUTH_PAUSE_S,
            ),
        ),
    ],
)
def test_after_send(case: str, answer: SendResult, receive_count: int, expected: Steps) -> None:
    got = after_send(
        answer, receive_count=receive_count, max_receive_count=5, claim_remaining_s=42.0
    )
    assert got == expected, case


def test_backoff_is_capped() -> None:
    got = after_send(
        result(Outcome.RETRY), receive_count=40, max_receive_count=100, claim_remaining_s=1.0
    )
    assert got.delay_s == 300.0


@pytest.mark.parametrize(
    ("receive_count", "max_receive_count", "last", "renew"),
    [
        pytest.param(1, 5, False, Renew.NO, id="first of five"),
        pytest.param(4, 5, False, Renew.NO, id="one more to go"),
        pytest.param(5, 5, True, Renew.FIRST, id="the last: copied before anything else"),
        pytest.param(1, 1, True, Renew.AFTER_CLAIM, id="one receive allowed: copy unless done"),
        pytest.param(7, 5, True, Renew.FIRST, id="past the count (redrive changed)"),
    ],
)
def test_the_last_receive_is_copied(
    receive_count: int, max_receive_count: int, last: bool, renew: Renew
) -> None:
    assert last_receive(receive_count, max_receive_count) is last
    assert renew_when(receive_count, max_receive_count) is renew


@pytest.mark.parametrize(
    ("copied", "expected"),
    [
        pytest.param(True, Q.DELETE, id="copied: the copy carries it"),
        pytest.param(False, Q.RETRY_AFTER, id="not copied: visible again later"),
    ],
)
def test_a_copied_message_is_handed_back_by_deleting_it(copied: bool, expected: QueueStep) -> None:
    assert hand_back_step(copied=copied) is expected


@pytest.mark.parametrize(
    ("claim_s", "expected"),
    [(60.0, 61), (15.0, 16), (2.5, 4), (0.1, 2), (3600.0, MAX_DELAY_S)],
)
def test_the_copy_comes_back_after_a_claim_taken_now_expired(claim_s: float, expected: int) -> None:
    assert renew_delay_s(claim_s) == expected


@pytest.mark.parametrize(
    ("visibility_timeout_s", "every_s"),
    [(30, 10.0), (10, 10 / 3), (3, 1.0), (2, 1.0), (43200, 14400.0)],
)
def test_a_send_renews_its_visibility_at_a_third_of_the_timeout(
    visibility_timeout_s: int, every_s: float
) -> None:
    from session_runner.sender.steps import keep_visible_every_s

    assert keep_visible_every_s(visibility_timeout_s) == pytest.approx(every_s)
