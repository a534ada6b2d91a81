"""Table tests of the pure side of on-demand verification: outcome → label, message, status."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from session_runner.contract.annotations import is_new_request
from session_runner.session.snapshot.keys import key_usage, key_usage_line
from session_runner.session.snapshot.verify import (
    MESSAGE_LIMIT,
    VerifyOutcome,
    last_verify_status,
    metrics_result,
    verify_message,
)

SNAP = "20261123T120000.000000Z-0a1b2c3d"
IDS = tuple(f"{n:064x}" for n in range(5))


@pytest.mark.parametrize(
    ("case", "outcome", "ok", "label", "says"),
    [
        ("clean", VerifyOutcome(SNAP, chunks=7), True, "ok", ["all 7 chunk(s) verified"]),
        (
            "one corrupt",
            VerifyOutcome(SNAP, chunks=7, corrupt=IDS[:1]),
            False,
            "damaged",
            ["1 corrupt chunk(s)", IDS[0], "uploads them again"],
        ),
        (
            "missing and corrupt",
            VerifyOutcome(SNAP, chunks=7, corrupt=IDS[:1], missing=IDS[1:3]),
            False,
            "damaged",
            ["1 corrupt", "2 missing", IDS[2]],
        ),
        (
            "many corrupt: a few ids, then a count",
            VerifyOutcome(SNAP, chunks=9, corrupt=IDS),
            False,
            "damaged",
            ["5 corrupt", IDS[2], "and 2 more"],
        ),
        (
            "manifest damaged",
            VerifyOutcome(SNAP, error="MAC mismatch (edited?)"),
            False,
            "damaged",
            ["MAC mismatch"],
        ),
        (
            "no snapshot",
            VerifyOutcome(None, error="the store holds no snapshot yet"),
            False,
            "failed",
            ["nothing verified", "no snapshot yet"],
        ),
    ],
)
def test_outcome(case: str, outcome: VerifyOutcome, ok: bool, label: str, says: list[str]) -> None:
    assert outcome.ok is ok, case
    assert metrics_result(outcome) == label, case
    message = verify_message(outcome)
    for text in says:
        assert text in message, (case, message)
    assert IDS[3] not in message or case != "many corrupt: a few ids, then a count"
    assert len(message) <= MESSAGE_LIMIT


def test_status_names_the_request_and_the_counts() -> None:
    outcome = VerifyOutcome(SNAP, chunks=7, corrupt=IDS[:1], missing=IDS[1:3])
    status = last_verify_status(
        "2026-11-23T12:00:00.5Z", outcome, datetime(2026, 11, 23, tzinfo=UTC)
    )
    assert status == {
        "request": "2026-11-23T12:00:00.5Z",
        "snapshotId": SNAP,
        "time": "2026-11-23T00:00:00Z",
        "ok": False,
        "corruptChunks": 1,
        "missingChunks": 2,
        "message": verify_message(outcome),
    }


def test_status_fits_the_crd() -> None:
    from wafleet_operator.api import VerifyInfo

    for outcome in (VerifyOutcome(SNAP, chunks=1), VerifyOutcome(None, error="none")):
        status = last_verify_status("r", outcome, datetime.now(UTC))
        VerifyInfo.model_validate({k: v for k, v in status.items() if v is not None})


@pytest.mark.parametrize(
    ("value", "served", "new"),
    [
        (None, None, False),
        ("", None, False),
        ("t1", None, True),
        ("t1", "t1", False),
        ("t2", "t1", True),
        (None, "t1", False),  # removing the annotation asks for nothing
    ],
)
def test_is_new_request(value: str | None, served: str | None, new: bool) -> None:
    assert is_new_request(value, served) is new


def test_the_message_says_which_keys_are_still_needed() -> None:
    usage = key_usage(["a" * 16, "b" * 16], ["a" * 16, "b" * 16, "c" * 16], "b" * 16)
    long_error = "x" * 2000
    for outcome in (
        VerifyOutcome(SNAP, chunks=3, keys=usage),
        VerifyOutcome(SNAP, chunks=3, error=long_error, keys=usage),
    ):
        message = verify_message(outcome)
        assert message.endswith(key_usage_line(usage))  # never cut off by a long finding
        assert f"no longer needed: {'c' * 16}" in message
