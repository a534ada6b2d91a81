"""`after_send`: what a vendor's answer means for the ledger, the queue message and the pool."""

from __future__ import annotations

import pytest

from session_runner.sender.steps import (
    AUTH_PAUSE_S,
    LedgerStep,
    QueueStep,
    Steps,
    after_send,
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
