"""The status the dispatcher writes: its fields, and conditions merged with the operator's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from session_runner.dispatcher.status import Summary, status_patch

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
EARLIER = "2026-12-01T00:00:00Z"
OPERATORS = {"type": "SpecValid", "status": "True", "reason": "Valid", "message": "ok"}


def by_type(patch: dict[str, object]) -> dict[str, dict[str, object]]:
    return {c["type"]: c for c in patch["conditions"]}  # type: ignore[index,union-attr]


def test_an_active_subscription_with_a_delivery() -> None:
    summary = Summary(3, delivered_at=NOW, status_code=204, event_id="evt_1", failures_24h=2)
    patch = status_patch({}, summary, disabled=False, now=NOW)
    assert patch["state"] == "Active"
    assert patch["lastDelivery"] == {
        "time": "2026-12-06T08:00:00Z",
        "statusCode": 204,
        "eventId": "evt_1",
    }
    assert patch["failuresLast24h"] == 2
    assert "lastError" not in patch
    conditions = by_type(patch)
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Tombstoned"]["status"] == "False"
    assert conditions["Tombstoned"]["observedGeneration"] == 3


@pytest.mark.parametrize(
    ("reason", "condition_reason"),
    [
        ("21 failed attempts in 24 hours, the last: HTTP 503", "TooManyFailures"),
        ("HTTP 410: the subscriber is gone", "Gone"),
    ],
)
def test_a_tombstone(reason: str, condition_reason: str) -> None:
    summary = Summary(4, tombstone_reason=reason, last_error=reason, failures_24h=21)
    patch = status_patch({}, summary, disabled=False, now=NOW)
    assert patch["state"] == "Tombstoned"
    assert patch["lastError"] == reason
    tombstoned = by_type(patch)["Tombstoned"]
    assert (tombstoned["status"], tombstoned["reason"]) == ("True", condition_reason)
    assert tombstoned["observedGeneration"] == 4  # a new generation resurrects it
    assert tombstoned["message"] == reason
    assert by_type(patch)["Ready"]["status"] == "False"


def test_disabled() -> None:
    patch = status_patch({}, Summary(1), disabled=True, now=NOW)
    assert patch["state"] == "Disabled"
    assert by_type(patch)["Ready"]["reason"] == "Disabled"


def test_others_conditions_are_kept_and_unchanged_ones_keep_their_transition_time() -> None:
    current = {
        "conditions": [
            OPERATORS,
            {
                "type": "Ready",
                "status": "True",
                "reason": "Delivering",
                "lastTransitionTime": EARLIER,
            },
        ]
    }
    patch = status_patch(current, Summary(1, delivered_at=NOW), disabled=False, now=NOW)
    assert [c["type"] for c in patch["conditions"]] == ["SpecValid", "Ready", "Tombstoned"]  # type: ignore[index,union-attr]
    assert by_type(patch)["SpecValid"] == OPERATORS
    assert by_type(patch)["Ready"]["lastTransitionTime"] == EARLIER
    assert by_type(patch)["Tombstoned"]["lastTransitionTime"] == "2026-12-06T08:00:00Z"


def test_a_long_error_is_cut() -> None:
    patch = status_patch({}, Summary(1, last_error="x" * 5000), disabled=False, now=NOW)
    assert len(patch["lastError"]) == 512  # type: ignore[arg-type]
