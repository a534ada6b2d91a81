"""`wafleet status`: an account's row, and the VERIFIED cell from status.runner.lastVerify."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from session_runner.cli.accounts import status_row, verified_cell

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last_verify", "expected"),
    [
        (None, "-"),
        ({}, "-"),
        ({"ok": True, "snapshotId": "s1", "time": "2026-12-03T11:55:00Z"}, "OK 5m"),
        ({"ok": False, "snapshotId": "s1", "time": "2026-12-03T11:59:30Z"}, "DAMAGED 30s"),
        ({"ok": False, "time": "2026-12-01T12:00:00Z"}, "UNCHECKED 2d"),
        ({"ok": False, "snapshotId": "s1"}, "DAMAGED"),
    ],
)
def test_verified_cell(last_verify: dict[str, Any] | None, expected: str) -> None:
    assert verified_cell(last_verify, NOW) == expected


def test_a_row_carries_the_last_snapshot_and_verify_ages() -> None:
    account = {
        "metadata": {"namespace": "team", "name": "alice"},
        "spec": {"phoneNumber": "+15550100001", "engine": "protocol"},
        "status": {
            "phase": "Connected",
            "leaseHolder": "waa-alice-0_ab12",
            "fencingToken": 4,
            "lastSnapshot": {"time": "2026-12-03T10:00:00Z"},
            "runner": {
                "lastVerify": {"ok": False, "snapshotId": "s", "time": "2026-12-03T11:00:00Z"}
            },
            "conditions": [{"type": "Ready", "status": "True", "message": "session connected"}],
        },
    }
    assert status_row(account, NOW) == [
        "team",
        "alice",
        "+15550100001",
        "protocol",
        "Connected",
        "True",
        "waa-alice-0_ab12",
        "4",
        "2h",
        "DAMAGED 1h",
        "session connected",
    ]


def test_a_fresh_account_shows_dashes() -> None:
    row = status_row({"metadata": {"namespace": "d", "name": "new"}}, NOW)
    assert row == ["d", "new", "", "browser", "-", "Unknown", "-", "-", "-", "-", ""]
