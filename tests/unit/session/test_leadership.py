"""A leader that cannot lead lets go (issue 13, points 1 and 2), on real `SessionRunner`s.

The runner, its elector and the local engine are real; the Lease lives in the
in-memory store (held to the same contract suite as Kubernetes and DynamoDB)
and the snapshot store is a small stand-in that applies storage's fencing
rule (`fencing.token_accepts`). Timings are short so backoffs take
fractions of a second; every wait is bounded so a hang fails instead of
passing slowly. The integration twins on the real API server and the moto S3
server are in tests/integration/runner_leadership/.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from session_runner.contract.settings import RunnerSettings
from session_runner.session.engines.local import LocalEngine, LocalEngineOptions
from session_runner.session.lease.fencing import FencedOutError, token_accepts
from session_runner.session.lease.memory import InMemoryLeaseBackend, InMemoryLeaseStore
from session_runner.session.lease.record import LeaseRecord
from session_runner.session.report import RunnerFacts, WriteDecision
from session_runner.session.runner import SessionRunner
from session_runner.session.startup import MAX_FAILED_STARTS

LEASE = "waa-demo"


@dataclass
class History(InMemoryLeaseStore):
    """The in-memory Lease store, keeping every record written (to see releases happen)."""

    written: list[LeaseRecord] = field(default_factory=list)

    def write(self, name: str, record: LeaseRecord) -> LeaseRecord:
        stored = super().write(name, record)
        self.written.append(stored)
        return stored


@dataclass
class Reports:
    """Every report, with the Lease as it was when the report was written."""

    store: History
    facts: list[tuple[RunnerFacts, LeaseRecord | None]] = field(default_factory=list)

    async def report(self, facts: RunnerFacts, *, refresh: bool = False) -> WriteDecision:
        if not refresh:
            self.facts.append((facts, self.store.leases.get(LEASE)))
        return WriteDecision.WRITE

    def phases(self, phase: str) -> list[RunnerFacts]:
        return [f for f, _ in self.facts if f.phase == phase]


@dataclass
class PointerStore:
    """The snapshot store's latest-pointer, as far as fencing goes: the highest token that
    moved it, and storage's rule for the next writer."""

    token: int | None = None
    snapshots: list[int] = field(default_factory=list)
    before_write: Callable[[], None] | None = None

    async def snapshot(self, session_dir: Path, token: int) -> None:
        if self.before_write is not None:
            self.before_write()
        if not token_accepts(self.token, token):
            raise FencedOutError(f"latest-pointer token {self.token} > ours {token}")
        self.token = token
        self.snapshots.append(token)

    async def floor(self) -> int:
        return 0 if self.token is None else self.token + 1


def settings(tmp_path: Path) -> RunnerSettings:
    return RunnerSettings(
        account_name="demo",
        phone_number="+15550100001",
        engine="local",
        pod_name="waa-demo-0",
        session_dir=tmp_path / "session",
        lease_duration_seconds=0.6,
        lease_renew_deadline_seconds=0.4,
        lease_retry_period_seconds=0.1,
        stop_timeout_seconds=1,
    )


async def _nothing(session_dir: Path, token: int) -> None:
    """No snapshot store."""


@pytest.fixture
async def stop() -> AsyncIterator[asyncio.Event]:
    event = asyncio.Event()
    yield event
    event.set()


async def until(predicate: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    """Poll `predicate` (a hang fails after `limit` seconds rather than passing slowly)."""
    try:
        async with asyncio.timeout(limit):
            while not predicate():  # noqa: ASYNC110 - reports and the Lease store together
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def test_a_failed_start_releases_the_lease_reports_why_and_retries_with_backoff(
    tmp_path: Path, stop: asyncio.Event
) -> None:
    store = History()
    reports = Reports(store)
    tokens_at_restore: list[int] = []
    failing = {"left": MAX_FAILED_STARTS}

    async def restore(session_dir: Path, token: int) -> None:
        tokens_at_restore.append(token)
        lease = store.leases[LEASE]
        assert lease.holder is not None
        assert lease.transitions == token
        if failing["left"] > 0:
            failing["left"] -= 1
            raise ConnectionError("Could not connect to the endpoint URL: http://s3.invalid/")

    cfg = settings(tmp_path)
    runner = SessionRunner(
        cfg,
        InMemoryLeaseBackend(store, LEASE),
        reports,
        lambda: LocalEngine(LocalEngineOptions(auto_login_after_s=0)),
        restore=restore,
        snapshot=_nothing,
    )
    running = asyncio.create_task(runner.run(stop))

    await until(lambda: len(reports.phases("Failed")) == 1, "the first failed start reported")
    failed, lease_then = next((f, r) for f, r in reports.facts if f.phase == "Failed")
    # Reported with the reason while the lease was still ours (so the operator takes it) …
    assert failed.fencing_token == 0
    assert lease_then is not None
    assert lease_then.holder is not None
    assert failed.message is not None
    assert "ConnectionError: Could not connect to the endpoint URL" in failed.message
    assert "lease released" in failed.message
    # … then released: the next runner may take over at once.
    await until(lambda: any(not r.held for r in store.written), "the lease released")
    assert runner.alive()

    # Retried after the backoff, each time as a new holder (released in between: +1).
    await until(lambda: len(reports.phases("Failed")) == MAX_FAILED_STARTS, "N failed starts")
    assert not runner.alive()  # /healthz fails: the kubelet restarts the pod
    assert tokens_at_restore == list(range(MAX_FAILED_STARTS))
    last = reports.phases("Failed")[-1].message or ""
    assert f"{MAX_FAILED_STARTS} failed starts in a row" in last
    assert "/healthz fails" in last
    assert "competing again in 1.6 s" in last  # 0.1 s doubled four times
    assert runner.elector.fencing_token is None  # no lease kept without an engine

    # The next start succeeds: the count resets and liveness recovers.
    await until(lambda: bool(reports.phases("Connected")), "connected after the failures")
    assert runner.alive()
    assert reports.phases("Connected")[-1].fencing_token == MAX_FAILED_STARTS

    stop.set()
    assert await asyncio.wait_for(running, 10) == 0
    assert not store.leases[LEASE].held


async def test_a_token_refused_by_storage_releases_the_lease_and_competes_above_it(
    tmp_path: Path, stop: asyncio.Event
) -> None:
    """Storage holds token 5, ours is 0: stop, say why, release, come back with 6."""
    store = History()
    reports = Reports(store)
    pointer = PointerStore()

    def a_frozen_holder_writes_first() -> None:
        # Between our claim (floor read: the store was empty) and our first snapshot, a
        # former holder of an earlier Lease incarnation moved the pointer with token 5.
        if pointer.token is None:
            pointer.token = 5

    pointer.before_write = a_frozen_holder_writes_first
    cfg = settings(tmp_path)
    runner = SessionRunner(
        cfg,
        InMemoryLeaseBackend(store, LEASE),
        reports,
        lambda: LocalEngine(LocalEngineOptions(auto_login_after_s=0)),
        restore=_nothing,
        snapshot=pointer.snapshot,  # a fresh login is snapshotted at once
    )
    runner.use_token_floor(pointer.floor)
    running = asyncio.create_task(runner.run(stop))

    await until(lambda: bool(pointer.snapshots), "a snapshot accepted by storage")
    refused = [
        (f, r) for f, r in reports.facts if "storage refused fencing token 0" in (f.message or "")
    ]
    assert len(refused) == 1
    facts, lease_then = refused[0]
    assert facts.phase == "Standby"
    assert "latest-pointer token 5 > ours 0" in (facts.message or "")
    assert "lease released" in (facts.message or "")
    assert facts.fencing_token == 0  # written while the lease was still ours
    assert lease_then is not None
    assert lease_then.held
    # Released (never kept without an engine), then claimed above storage's token.
    released = [i for i, r in enumerate(store.written) if not r.held]
    assert released
    assert next(r.transitions for r in store.written[released[0] + 1 :] if r.held) == 6
    assert pointer.snapshots == [6]
    await until(lambda: bool(reports.phases("Connected")), "connected")
    assert reports.phases("Connected")[-1].fencing_token == 6
    assert runner.alive()

    stop.set()
    assert await asyncio.wait_for(running, 10) == 0


async def test_an_unreadable_token_floor_claims_nothing_says_why_and_fails_liveness(
    tmp_path: Path, stop: asyncio.Event
) -> None:
    store = History()
    reports = Reports(store)
    floor = {"failing": True}

    async def token_floor() -> int:
        if floor["failing"]:
            raise ConnectionError("Could not connect to the endpoint URL: http://s3.invalid/")
        return 3

    runner = SessionRunner(
        settings(tmp_path),
        InMemoryLeaseBackend(store, LEASE),
        reports,
        lambda: LocalEngine(LocalEngineOptions(auto_login_after_s=0)),
        restore=_nothing,
        snapshot=_nothing,
    )
    runner.use_token_floor(token_floor)
    running = asyncio.create_task(runner.run(stop))

    await until(lambda: bool(reports.phases("Failed")), "the unreadable floor reported")
    failed = reports.phases("Failed")[0]
    assert failed.fencing_token is None  # no lease was claimed
    assert "cannot read the fencing token floor (ConnectionError" in (failed.message or "")
    assert runner.alive()
    await until(lambda: not runner.alive(), "liveness failing while the floor stays unreadable")
    assert store.written == []  # nothing claimed with an unproven token
    assert len(reports.phases("Failed")) == 1  # said once, not on every retry

    floor["failing"] = False
    await until(lambda: bool(reports.phases("Connected")), "connected once the floor reads")
    assert reports.phases("Connected")[-1].fencing_token == 3
    assert runner.alive()

    stop.set()
    assert await asyncio.wait_for(running, 10) == 0
