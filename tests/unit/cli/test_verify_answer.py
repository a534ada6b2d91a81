"""Table test of `wafleet verify --wait`'s decision: the runner's lastVerify → exit code and line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from session_runner.cli.accounts import verify_answer
from session_runner.session.snapshot.keys import key_usage
from session_runner.session.snapshot.verify import VerifyOutcome, last_verify_status

REQUEST = "2026-11-23T12:00:00.000001Z"


def answer(**extra: Any) -> dict[str, Any]:
    return {
        "request": REQUEST,
        "snapshotId": "20261123T115900.000000Z-0a1b2c3d",
        "time": "2026-11-23T12:00:02Z",
        "ok": True,
        "corruptChunks": 0,
        "missingChunks": 0,
        "message": "all 3 chunk(s) verified",
        **extra,
    }


@pytest.mark.parametrize(
    ("case", "last_verify", "expected"),
    [
        ("no answer yet", None, None),
        ("an answer to an older request", answer(request="2026-11-22T00:00:00Z"), None),
        ("whole", answer(), (0, "OK")),
        ("corrupt", answer(ok=False, corruptChunks=1), (1, "DAMAGED")),
        ("missing", answer(ok=False, missingChunks=2), (1, "DAMAGED")),
        (
            "nothing checked",
            answer(ok=False, snapshotId=None, message="nothing verified: no snapshot"),
            (1, "NOT VERIFIED"),
        ),
    ],
)
def test_verify_answer(
    case: str, last_verify: dict[str, Any] | None, expected: tuple[int, str] | None
) -> None:
    got = verify_answer(last_verify, REQUEST)
    if expected is None:
        assert got is None, case
        return
    assert got is not None, case
    code, line = got
    assert (code, line.split(":")[0]) == expected, case
    assert last_verify is not None
    assert str(last_verify["message"]) in line
    if code == 1 and last_verify.get("snapshotId"):
        corrupt, missing = last_verify["corruptChunks"], last_verify["missingChunks"]
        assert f"{corrupt} corrupt and {missing} missing" in line


def test_the_answer_names_the_keys_the_kept_snapshots_need() -> None:
    """What the runner reports (`last_verify_status`) reaches the person running `wafleet verify`."""
    old, new = "a" * 16, "b" * 16
    outcome = VerifyOutcome(
        "20261123T115900.000000Z-0a1b2c3d", chunks=3, keys=key_usage([new], [old, new], new)
    )
    got = verify_answer(last_verify_status(REQUEST, outcome, datetime.now(UTC)), REQUEST)
    assert got is not None
    code, line = got
    assert code == 0
    assert f"snapshots need key(s) {new} (current)" in line
    assert f"no longer needed: {old} (may be removed from the Secret)" in line
