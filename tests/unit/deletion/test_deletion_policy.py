"""The finalizer's retry budget for deleting snapshots: a row per obstacle and attempt."""

from __future__ import annotations

import pytest

from session_runner.contract.annotations import (
    SKIP_SNAPSHOT_DELETION_ANNOTATION,
    skips_snapshot_deletion,
)
from wafleet_operator.handlers.deletion_policy import (
    BLOCKED_REASON,
    CONDITION_TYPE,
    GIVE_UP,
    RECORD_ANNOTATION,
    RUNNER_WAIT_ATTEMPTS,
    DeletionRecord,
    GiveUp,
    Obstacle,
    blocked_condition,
    deletion_retry,
)
from wafleet_operator.specs.runner_config import TERMINATION_GRACE_SECONDS

OB = Obstacle

RETRY_ROWS: list[tuple[int, Obstacle, float | GiveUp]] = [
    # The store away: exponential backoff 2, 4, 8 ... capped at 60, eight attempts.
    (1, OB.UNAVAILABLE, 2.0),
    (2, OB.UNAVAILABLE, 4.0),
    (3, OB.UNAVAILABLE, 8.0),
    (6, OB.UNAVAILABLE, 60.0),
    (7, OB.UNAVAILABLE, 60.0),
    (8, OB.UNAVAILABLE, GIVE_UP),
    (50, OB.UNAVAILABLE, GIVE_UP),
    # The Secret gone (a namespace teardown): four attempts, ~14 s.
    (1, OB.CREDENTIALS_MISSING, 2.0),
    (3, OB.CREDENTIALS_MISSING, 8.0),
    (4, OB.CREDENTIALS_MISSING, GIVE_UP),
    (1, OB.CREDENTIALS_REFUSED, 2.0),
    (4, OB.CREDENTIALS_REFUSED, GIVE_UP),
    # The runner still stopping: a steady poll, for longer than any grace period.
    (1, OB.RUNNER_RUNNING, 5.0),
    (RUNNER_WAIT_ATTEMPTS - 1, OB.RUNNER_RUNNING, 5.0),
    (RUNNER_WAIT_ATTEMPTS, OB.RUNNER_RUNNING, GIVE_UP),
    # Retrying cannot change these answers: blocked at once.
    (1, OB.NO_CREDENTIALS, GIVE_UP),
    (1, OB.FOREIGN_OWNER, GIVE_UP),
    (1, OB.INVALID_SPEC, GIVE_UP),
]


@pytest.mark.parametrize(("attempt", "obstacle", "expected"), RETRY_ROWS)
def test_deletion_retry(attempt: int, obstacle: Obstacle, expected: float | GiveUp) -> None:
    assert deletion_retry(attempt, obstacle) == expected


def test_every_obstacle_ends() -> None:
    for obstacle in Obstacle:
        assert any(isinstance(deletion_retry(n, obstacle), GiveUp) for n in range(1, 1000))


def test_the_runner_wait_outlasts_every_grace_period() -> None:
    waited = sum(
        d
        for n in range(1, RUNNER_WAIT_ATTEMPTS)
        if not isinstance(d := deletion_retry(n, OB.RUNNER_RUNNING), GiveUp)
    )
    assert waited > max(TERMINATION_GRACE_SECONDS.values())


def test_attempts_are_counted_per_obstacle() -> None:
    """Polls while the runner stops do not eat the store's budget."""
    record = DeletionRecord()
    for _ in range(10):
        record, _ = record.after_failure(OB.RUNNER_RUNNING)
    record, decision = record.after_failure(OB.UNAVAILABLE)
    assert decision == 2.0
    assert record.attempts == {"RunnerStillRunning": 10, "StoreUnavailable": 1}
    assert record.blocked is None


def test_the_record_blocks_when_the_budget_is_spent_and_round_trips() -> None:
    record = DeletionRecord()
    decisions = []
    for _ in range(4):
        record, decision = record.after_failure(OB.CREDENTIALS_MISSING)
        decisions.append(decision)
    assert decisions == [2.0, 4.0, 8.0, GIVE_UP]
    assert record.blocked == "CredentialsMissing"
    assert DeletionRecord.parse(record.to_json()) == record


@pytest.mark.parametrize("text", [None, "", "not json", "[]", '{"attempts": {"x": "y"}}'])
def test_an_absent_or_edited_record_starts_afresh(text: str | None) -> None:
    assert DeletionRecord.parse(text) == DeletionRecord()


def test_the_record_lives_under_the_operators_own_prefix() -> None:
    assert RECORD_ANNOTATION.startswith("operator.wafleet.io/")


def test_blocked_condition_keeps_the_others_and_its_transition_time() -> None:
    ready = {"type": "Ready", "status": "False", "reason": "X", "message": "m"}
    first = blocked_condition("why", "2026-01-01T00:00:00Z", [ready], 4)
    assert first[0] == ready
    assert first[1] == {
        "type": CONDITION_TYPE,
        "status": "False",
        "reason": BLOCKED_REASON,
        "message": "why",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": 4,
    }
    again = blocked_condition("why now", "2026-01-02T00:00:00Z", first, 4)
    assert len(again) == 2
    assert again[1]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert again[1]["message"] == "why now"


@pytest.mark.parametrize(
    ("value", "skips"),
    [
        (None, False),
        ("true", True),
        (" True ", True),
        ("false", False),
        ("yes", False),
        ("", False),
    ],
)
def test_only_an_explicit_true_leaves_the_snapshots(value: str | None, skips: bool) -> None:
    annotations = {} if value is None else {SKIP_SNAPSHOT_DELETION_ANNOTATION: value}
    assert skips_snapshot_deletion(annotations) is skips
