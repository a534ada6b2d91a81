"""When the runner snapshots: which engine events call for one now, and the schedule's
handling of failures, refusals and verifications."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from session_runner.session.engines.events import (
    Connected,
    Disconnected,
    EngineEvent,
    LoggedIn,
    LoggedOut,
    QrCode,
)
from session_runner.session.lease.fencing import FencedOutError
from session_runner.session.snapshot.snapshotter import SnapshotResult
from session_runner.session.snapshot.verify import VerifyOutcome
from session_runner.session.snapshots import SnapshotSchedule, snapshot_after_event
from session_runner.session.verifier import Verifier

JID = "15550100000@s.whatsapp.net"


@pytest.mark.parametrize(
    ("event", "awaiting_login", "restored", "expected"),
    [
        # A person just scanned the QR: back it up now, not in five minutes.
        (LoggedIn(jid=JID), True, False, True),
        # ... even when an older snapshot had been restored (it was logged out since).
        (LoggedIn(jid=JID), True, True, True),
        # Nothing was restored, so whatever logged in is not in the store yet.
        (LoggedIn(jid=JID), False, False, True),
        # A restored session WhatsApp accepted is what the store already holds.
        (LoggedIn(jid=JID), False, True, False),
        # Nothing else is new login state.
        (Connected(), True, False, False),
        (QrCode(payload="2@abc", expires_in_s=20), True, False, False),
        (Disconnected(reason="network"), False, False, False),
        (LoggedOut(reason="unlinked"), False, True, False),
    ],
)
def test_only_a_new_login_triggers_a_snapshot(
    event: EngineEvent, awaiting_login: bool, restored: bool, expected: bool
) -> None:
    assert snapshot_after_event(event, awaiting_login=awaiting_login, restored=restored) is expected


@dataclass
class Store:
    """A snapshot hook with storage's outcomes: a write, an error, or a refused token."""

    refuse_below: int | None = None
    fail: Exception | None = None
    written: list[int] = field(default_factory=list)

    async def snapshot(self, session_dir: Path, token: int) -> None:
        if self.refuse_below is not None and token < self.refuse_below:
            raise FencedOutError(f"latest-pointer token {self.refuse_below} > ours {token}")
        if self.fail is not None:
            raise self.fail
        self.written.append(token)


@dataclass
class Runner:
    """What the schedule tells the runner: refusals, and when to report."""

    refused: list[int] = field(default_factory=list)
    reports: int = 0

    def fenced_out(self, token: int, error: FencedOutError) -> None:
        self.refused.append(token)

    async def report(self) -> None:
        self.reports += 1


def schedule(
    store: Store, runner: Runner, tmp_path: Path, interval: float = 300
) -> SnapshotSchedule:
    snapshots = SnapshotSchedule(
        tmp_path, interval, on_fenced_out=runner.fenced_out, after=runner.report
    )
    snapshots.hook = store.snapshot
    return snapshots


async def test_a_failed_snapshot_is_reported_and_the_next_success_clears_it(tmp_path: Path) -> None:
    store, runner = Store(fail=OSError("disk full")), Runner()
    snapshots = schedule(store, runner, tmp_path)
    await snapshots.take(3)
    assert snapshots.error == "snapshot failed: OSError: disk full"
    assert runner.reports == 1
    store.fail = None
    await snapshots.take(3)
    snapshots.record(SnapshotResult("20261123T120000Z-3", 10, 0.25, 1, 1, 0, 10))
    assert store.written == [3]
    assert snapshots.error is None
    assert snapshots.last is not None
    assert snapshots.last["id"] == "20261123T120000Z-3"


async def test_a_refused_token_goes_to_the_runner_not_into_the_report(tmp_path: Path) -> None:
    runner = Runner()
    snapshots = schedule(Store(refuse_below=5), runner, tmp_path)
    with pytest.raises(FencedOutError):
        await snapshots.take(3)
    await snapshots.take_quietly(4)
    assert runner.refused == [3, 4]
    assert runner.reports == 0  # the runner reports why, once it gave the lease up
    assert snapshots.error is None


async def test_periodic_snapshots_go_on_until_storage_refuses_the_token(tmp_path: Path) -> None:
    store, runner = Store(), Runner()
    snapshots = schedule(store, runner, tmp_path, interval=0.01)

    async def refuse_after_three(session_dir: Path, token: int) -> None:
        if len(store.written) == 3:
            store.refuse_below = token + 1
        await store.snapshot(session_dir, token)

    snapshots.hook = refuse_after_three
    await asyncio.wait_for(snapshots.periodically(7), 5)  # returns: a refusal ends it
    assert store.written == [7, 7, 7]
    assert runner.refused == [7]


def test_the_schedule_knows_whether_the_last_restore_is_the_stores_latest(tmp_path: Path) -> None:
    snapshots = schedule(Store(), Runner(), tmp_path)
    assert snapshots.fresh_login(LoggedIn(jid=JID), awaiting_login=False)
    snapshots.restored = True
    assert not snapshots.fresh_login(LoggedIn(jid=JID), awaiting_login=False)
    assert snapshots.fresh_login(LoggedIn(jid=JID), awaiting_login=True)


async def test_a_verification_that_raises_is_still_answered(tmp_path: Path) -> None:
    runner = Runner()
    verifier = Verifier(after=runner.report)

    async def broken() -> VerifyOutcome:
        raise OSError("store unreachable")

    verifier.hook = broken
    await verifier.answer("t1")
    assert verifier.last is not None
    assert verifier.last["request"] == "t1"
    assert verifier.last["ok"] is False
    assert "verification failed: OSError" in str(verifier.last["message"])
    assert runner.reports == 1


async def test_without_a_store_a_verification_says_so(tmp_path: Path) -> None:
    verifier = Verifier(after=Runner().report)
    await verifier.answer("t2")
    assert verifier.last is not None
    assert "spec.snapshot" in str(verifier.last["message"])
