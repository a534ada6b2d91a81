"""spec.restoreFrom is consumed once: which snapshot a start restores, row by row."""

from __future__ import annotations

from typing import Any

import pytest

from session_runner.session.restore_request import (
    RestoreRequest,
    recorded_request,
    reported_restore,
    restored_from_report,
    snapshot_to_restore,
)

X, Y = "20260101T000000.000000Z-aaaa", "20260102T000000.000000Z-bbbb"


@pytest.mark.parametrize(
    ("case", "requested", "recorded", "reported", "done_here", "expected"),
    [
        ("no request: the latest", None, None, None, None, None),
        ("a new request, nothing recorded yet", X, None, None, None, X),
        ("recorded, not consumed", X, RestoreRequest(X, 4), None, None, X),
        ("recorded and consumed", X, RestoreRequest(X, 4, consumed=True), None, None, None),
        ("reported for this request", X, RestoreRequest(X, 4), (X, 4), None, None),
        ("reported for an older request of the same id", X, RestoreRequest(X, 9), (X, 4), None, X),
        ("reported without a generation", X, RestoreRequest(X, 4), (X, None), None, X),
        (
            "the record is of another snapshot",
            X,
            RestoreRequest(Y, 4, consumed=True),
            None,
            None,
            X,
        ),
        ("this process already restored it", X, RestoreRequest(X, 4), None, X, None),
        ("this process restored another one", X, None, None, Y, X),
        ("the request was removed from the spec", None, RestoreRequest(X, 4), None, None, None),
    ],
)
def test_snapshot_to_restore(
    case: str,
    requested: str | None,
    recorded: RestoreRequest | None,
    reported: tuple[str, int | None] | None,
    done_here: str | None,
    expected: str | None,
) -> None:
    assert snapshot_to_restore(requested, recorded, reported, done_here) == expected, case


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, None),
        ({"restoreRequest": {"snapshotId": X, "generation": 3}}, RestoreRequest(X, 3)),
        (
            {"restoreRequest": {"snapshotId": X, "generation": 3, "consumed": True}},
            RestoreRequest(X, 3, consumed=True),
        ),
        ({"restoreRequest": {"snapshotId": X, "generation": True}}, RestoreRequest(X, None)),
        ({"restoreRequest": {"generation": 3}}, None),
        ({"restoreRequest": "garbled"}, None),
    ],
)
def test_the_recorded_request_is_read_defensively(
    status: dict[str, Any], expected: RestoreRequest | None
) -> None:
    assert recorded_request({"status": status}) == expected


def test_the_reported_restore_is_read_from_the_runner_report() -> None:
    account = {"status": {"runner": {"restoredFrom": {"snapshotId": X, "generation": 2}}}}
    assert reported_restore(account) == (X, 2)
    assert reported_restore({"status": {"runner": {"phase": "Connected"}}}) is None
    assert reported_restore(None) is None


def test_the_report_carries_the_generation_only_of_the_matching_request() -> None:
    assert restored_from_report(X, RestoreRequest(X, 5)) == {"snapshotId": X, "generation": 5}
    assert restored_from_report(X, RestoreRequest(Y, 5)) == {"snapshotId": X, "generation": None}
    assert restored_from_report(X, None) == {"snapshotId": X, "generation": None}
