"""The rule every status report goes through: may this runner write over what is there now?"""

from __future__ import annotations

from typing import Any

import pytest

from session_runner.session.report import WriteDecision, decide_write, report_token

WRITE, UNCHANGED, NOT_MINE = WriteDecision.WRITE, WriteDecision.UNCHANGED, WriteDecision.NOT_MINE


def report(phase: str, token: int | None, **more: Any) -> dict[str, Any]:
    """A report as build_report writes it (absent fields are null)."""
    return {
        "phase": phase,
        "holder": "waa-demo-0",
        "fencingToken": token,
        "loginQr": None,
        "message": more.pop("message", None),
        "lastSnapshot": None,
        "snapshotError": None,
        "lastVerify": None,
        "reportedAt": more.pop("reportedAt", "2026-11-23T12:00:00Z"),
        **more,
    }


def stored(phase: str, token: int | None, **more: Any) -> dict[str, Any]:
    """The same report as the API server returns it: a merge patch drops null fields."""
    return {k: v for k, v in report(phase, token, **more).items() if v is not None}


@pytest.mark.parametrize(
    ("current", "mine", "last_token", "expected"),
    [
        # Nothing or a token-less report there: it protects nothing.
        (None, report("Standby", None), None, WRITE),
        (stored("Standby", None), report("Standby", None), None, WRITE),
        (stored("Stopped", None), report("Restoring", 1), 1, WRITE),
        # The defect: a standby (never held a token) over the leader's report.
        (stored("Connected", 3), report("Standby", None), None, NOT_MINE),
        # A standby that led earlier (token 2) is not the leader that reported 3.
        (stored("Connected", 3), report("Standby", None), 2, NOT_MINE),
        # The leader over its own report, and a successor over its predecessor's.
        (stored("Restoring", 3), report("Connected", 3), 3, WRITE),
        (stored("Connected", 3), report("Restoring", 4), 4, WRITE),
        # A deposed leader woke up with its old token: the successor's report stays.
        (stored("Connected", 4), report("Connected", 3), 3, NOT_MINE),
        # A deposed leader's token-less "lease lost" over its own last report...
        (stored("Connected", 3), report("Standby", None), 3, WRITE),
        # ... but never over its successor's, whether it reports with or without a token.
        (stored("Restoring", 4), report("Standby", None), 3, NOT_MINE),
        (stored("Restoring", 4), report("Stopped", 3), 3, NOT_MINE),
        # Token 0 is a token (the first holder of a Lease created without transitions).
        (stored("Connected", 0), report("Standby", None), None, NOT_MINE),
        (stored("Connected", 0), report("Standby", None), 0, WRITE),
        # What is not a token (a hand edit, a bool) protects nothing.
        (stored("Connected", None, fencingToken="3"), report("Standby", None), None, WRITE),
        (stored("Connected", None, fencingToken=True), report("Standby", None), None, WRITE),
        (stored("Connected", None, fencingToken=-1), report("Standby", None), None, WRITE),
    ],
)
def test_who_may_write_over_whom(
    current: dict[str, Any] | None,
    mine: dict[str, Any],
    last_token: int | None,
    expected: WriteDecision,
) -> None:
    assert decide_write(current, mine, last_token) is expected
    # A refresh never gets further than a report would.
    if expected is NOT_MINE:
        assert decide_write(current, mine, last_token, refresh=True) is NOT_MINE


@pytest.mark.parametrize(
    ("current", "mine", "expected"),
    [
        # The status says what we would write (only the time differs): no write, no event.
        (
            stored("Connected", 3, reportedAt="2026-11-23T12:00:00Z"),
            report("Connected", 3, reportedAt="2026-11-23T12:05:00Z"),
            UNCHANGED,
        ),
        # A lost write: the status still says Restoring.
        (stored("Restoring", 3), report("Connected", 3), WRITE),
        # Overwritten by a token-less report (a standby of an older version, a hand edit).
        (stored("Standby", None), report("Connected", 3), WRITE),
        # Nothing there at all (the status was reset).
        (None, report("Connected", 3), WRITE),
        # A field we reported is gone, or one we did not report appeared.
        (stored("Connected", 3, message=None), report("Connected", 3, message="up"), WRITE),
        (stored("Connected", 3, message="old"), report("Connected", 3), WRITE),
    ],
)
def test_a_refresh_writes_only_when_the_status_no_longer_says_what_we_reported(
    current: dict[str, Any] | None, mine: dict[str, Any], expected: WriteDecision
) -> None:
    assert decide_write(current, mine, 3, refresh=True) is expected
    # The same report as an event's report is always written (it is news to the operator).
    assert decide_write(current, mine, 3) is WRITE


@pytest.mark.parametrize(
    ("current", "mine", "expected"),
    [
        # A start-up failure (no lease) whose runner read that nobody holds the Lease live:
        # the report there is nobody's who runs, so the failure replaces it.
        (stored("Connected", 5), report("Failed", None), WRITE),
        (stored("Stopped", 5), report("Failed", None), WRITE),
        (None, report("Failed", None), WRITE),
        # The flag never lets a report *with* a token past the token rule.
        (stored("Connected", 5), report("Connected", 4), NOT_MINE),
    ],
)
def test_a_report_when_the_lease_is_free_may_replace_a_gone_leaders_report(
    current: dict[str, Any] | None, mine: dict[str, Any], expected: WriteDecision
) -> None:
    assert decide_write(current, mine, None, lease_free=True) is expected


@pytest.mark.parametrize(
    ("value", "token"),
    [(None, None), (0, 0), (7, 7), (True, None), ("7", None), (-1, None), (7.0, None)],
)
def test_only_a_non_negative_integer_is_a_token(value: object, token: int | None) -> None:
    assert report_token({"fencingToken": value}) == token
    assert report_token(None) is None
