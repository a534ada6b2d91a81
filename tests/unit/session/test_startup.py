"""The start-up decisions, one table row per rule: backoff, liveness, reasons, the token floor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from session_runner.session.floor import combined_floor, floor_from_status
from session_runner.session.lease.memory import InMemoryLeaseBackend, InMemoryLeaseStore
from session_runner.session.lease.record import LeaseBackendError, LeaseRecord
from session_runner.session.report import FileReporter, WriteDecision
from session_runner.session.snapshot.crypto import KeyRingError
from session_runner.session.snapshot.token_floor import floor_from_pointer
from session_runner.session.startup import (
    MAX_FAILED_STARTS,
    START_BACKOFF_CAP_S,
    describe_error,
    failed_start_message,
    report_startup_failure,
    start_backoff,
    start_healthy,
    unhealthy_after,
)


@pytest.mark.parametrize(
    ("attempt", "base", "seconds"),
    [
        (0, 2.0, 0.0),  # nothing failed: no wait
        (1, 2.0, 2.0),  # the first failure waits one retry period
        (2, 2.0, 4.0),
        (3, 2.0, 8.0),
        (5, 2.0, 32.0),
        (8, 2.0, 256.0),
        (9, 2.0, START_BACKOFF_CAP_S),  # 512 s capped at ~5 min
        (10_000, 2.0, START_BACKOFF_CAP_S),  # no overflow, however long it goes on
        (3, 0.5, 2.0),  # follows the configured retry period
    ],
)
def test_start_backoff_doubles_from_the_retry_period_up_to_a_cap(
    attempt: int, base: float, seconds: float
) -> None:
    assert start_backoff(attempt, base) == seconds


@pytest.mark.parametrize(
    ("failed_starts", "floor_failing_for", "healthy"),
    [
        (0, None, True),
        (1, None, True),
        (MAX_FAILED_STARTS - 1, None, True),
        (MAX_FAILED_STARTS, None, False),  # N in a row: let the kubelet restart the pod
        (MAX_FAILED_STARTS + 3, None, False),
        # The token floor unreadable (the store down): as long as N backed-off starts take.
        (0, 0.0, True),
        (0, unhealthy_after(2.0) - 0.1, True),
        (0, unhealthy_after(2.0), False),
        (0, 3600.0, False),
    ],
)
def test_liveness_fails_after_repeated_start_failures(
    failed_starts: int, floor_failing_for: float | None, healthy: bool
) -> None:
    assert start_healthy(failed_starts, floor_failing_for, 2.0) is healthy


def test_unhealthy_after_is_the_backoffs_before_the_last_allowed_start() -> None:
    assert unhealthy_after(2.0) == 2 + 4 + 8 + 16


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            KeyRingError("the encryption key file /k must hold 32 raw bytes (found 12)"),
            "KeyRingError: the encryption key file /k must hold 32 raw bytes (found 12)",
        ),
        (ConnectionError(), "ConnectionError"),
        (OSError("line one\n  line two"), "OSError: line one line two"),
        (RuntimeError("x" * 1000), "RuntimeError: " + "x" * 286),
    ],
)
def test_a_reason_is_one_bounded_line(error: Exception, reason: str) -> None:
    assert describe_error(error) == reason


@pytest.mark.parametrize(
    ("attempt", "pause", "message"),
    [
        (1, 2.0, "start failed: E: x; lease released, competing again in 2 s"),
        (2, 4.0, "start failed: E: x; lease released, competing again in 4 s (2 failed starts"),
        (MAX_FAILED_STARTS, 32.0, "/healthz fails so the pod restarts"),
    ],
)
def test_the_failed_start_message_says_what_happens_next(
    attempt: int, pause: float, message: str
) -> None:
    assert message in failed_start_message("E: x", attempt, pause)


NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LEASE_NAME = "waa-demo"


def lease(holder: str | None, renewed_ago: float, duration: float = 15.0) -> LeaseRecord:
    return LeaseRecord(
        holder=holder,
        lease_duration_s=duration,
        acquire_time=NOW - timedelta(hours=1),
        renew_time=NOW - timedelta(seconds=renewed_ago),
        transitions=3,
        version="9",
    )


@pytest.mark.parametrize(
    ("pointer_token", "floor"),
    [(None, 0), (0, 1), (5, 6)],
)
def test_the_store_floor_is_one_above_the_pointer_token(
    pointer_token: int | None, floor: int
) -> None:
    assert floor_from_pointer(pointer_token) == floor


@pytest.mark.parametrize(
    ("account", "floor"),
    [
        ({}, 0),  # no status yet
        ({"status": {}}, 0),
        ({"status": {"fencingToken": 5}}, 6),  # the operator's accepted token
        ({"status": {"runner": {"fencingToken": 7}}}, 8),  # the runner's own report
        ({"status": {"fencingToken": 5, "runner": {"fencingToken": 3}}}, 6),
        ({"status": {"fencingToken": 2, "runner": {"fencingToken": 9}}}, 10),
        ({"status": {"fencingToken": 0}}, 1),  # 0 is a token
        # What is not a token (a hand edit) counts for nothing.
        ({"status": {"fencingToken": "9", "runner": {"fencingToken": True}}}, 0),
        ({"status": {"fencingToken": -1, "runner": "garbled"}}, 0),
    ],
)
def test_the_status_floor_is_one_above_the_highest_recorded_token(
    account: dict[str, Any], floor: int
) -> None:
    assert floor_from_status(account) == floor


async def test_floors_combine_by_max_and_any_failure_fails_the_whole() -> None:
    async def three() -> int:
        return 3

    async def seven() -> int:
        return 7

    async def broken() -> int:
        raise ConnectionError("unreachable")

    assert await combined_floor([three, seven])() == 7
    assert await combined_floor([])() == 0
    with pytest.raises(ConnectionError):
        await combined_floor([seven, broken])()


@pytest.mark.parametrize(
    ("holder", "renewed_ago", "replaced"),
    [
        (None, 1.0, True),  # released: the report there is nobody's who runs
        ("waa-demo-0_old", 3600.0, True),  # expired long ago (the pod died)
        ("waa-demo-0_live", 1.0, False),  # a live leader: its report stays
    ],
)
async def test_a_start_up_failure_replaces_only_a_report_nobody_live_stands_behind(
    tmp_path: Path, holder: str | None, renewed_ago: float, replaced: bool
) -> None:
    status_file = tmp_path / "status.json"
    leader = {"phase": "Connected", "holder": "waa-demo-0", "fencingToken": 4}
    status_file.write_text(json.dumps(leader))
    store = InMemoryLeaseStore()
    store.write(LEASE_NAME, lease(holder, renewed_ago))
    decision = await report_startup_failure(
        FileReporter(status_file),
        InMemoryLeaseBackend(store, LEASE_NAME),
        "waa-demo-1",
        "spec.snapshot.encryptionKeySecret: found 12 bytes",
        now_wall=NOW,
    )
    now = json.loads(status_file.read_text())
    if replaced:
        assert decision is WriteDecision.WRITE
        assert now["phase"] == "Failed"
        assert now["message"] == "spec.snapshot.encryptionKeySecret: found 12 bytes"
        assert now["fencingToken"] is None
    else:
        assert decision is WriteDecision.NOT_MINE
        assert now == leader


async def test_a_start_up_failure_without_a_readable_lease_writes_only_as_a_standby(
    tmp_path: Path,
) -> None:
    class Unreachable:
        """A lease backend behind a network that refuses every request."""

        async def get(self) -> LeaseRecord | None:
            raise LeaseBackendError("connection refused (test double)")

        async def create(self, record: LeaseRecord) -> LeaseRecord:
            raise LeaseBackendError("connection refused (test double)")

        async def update(self, record: LeaseRecord) -> LeaseRecord:
            raise LeaseBackendError("connection refused (test double)")

    status_file = tmp_path / "status.json"
    leader = {"phase": "Connected", "holder": "waa-demo-0", "fencingToken": 4}
    status_file.write_text(json.dumps(leader))
    decision = await report_startup_failure(
        FileReporter(status_file),
        Unreachable(),
        "waa-demo-1",
        "bad key",
        now_wall=NOW,
    )
    assert decision is WriteDecision.NOT_MINE
    assert json.loads(status_file.read_text()) == leader
