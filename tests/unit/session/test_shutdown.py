"""SIGTERM with a final snapshot that never finishes: the runner still releases and exits."""

from __future__ import annotations

import asyncio
from pathlib import Path

from session_runner.contract.settings import RunnerSettings
from session_runner.session.engines.local import LocalEngine, LocalEngineOptions
from session_runner.session.lease.memory import InMemoryLeaseBackend, InMemoryLeaseStore
from session_runner.session.report import RunnerFacts, WriteDecision
from session_runner.session.runner import SessionRunner


class Reports:
    """Keeps every report, as the account's status would show them in turn."""

    def __init__(self) -> None:
        self.facts: list[RunnerFacts] = []
        self.connected = asyncio.Event()

    async def report(self, facts: RunnerFacts, *, refresh: bool = False) -> WriteDecision:
        if refresh:  # the leader's re-assert; the status would not change
            return WriteDecision.UNCHANGED
        self.facts.append(facts)
        if facts.phase == "Connected":
            self.connected.set()
        return WriteDecision.WRITE


async def _hangs(session_dir: Path, token: int) -> None:
    """A snapshot store that accepts the connection and never answers."""
    await asyncio.Event().wait()


async def _nothing(session_dir: Path, token: int) -> None:
    """No snapshot to restore."""


async def test_a_hung_final_snapshot_is_abandoned_and_the_lease_still_released(
    tmp_path: Path,
) -> None:
    settings = RunnerSettings(
        account_name="demo",
        phone_number="+15550100001",
        engine="local",
        pod_name="waa-demo-0",
        session_dir=tmp_path / "session",
        lease_duration_seconds=3,
        lease_renew_deadline_seconds=2,
        lease_retry_period_seconds=0.5,
        stop_timeout_seconds=0.5,
    )
    store = InMemoryLeaseStore()
    reports = Reports()
    runner = SessionRunner(
        settings,
        InMemoryLeaseBackend(store, settings.lease_name),
        reports,
        lambda: LocalEngine(LocalEngineOptions(auto_login_after_s=0)),
        restore=_nothing,
        snapshot=_hangs,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    async with asyncio.timeout(20):  # a hang is a failure, not a slow pass
        await reports.connected.wait()
        stop.set()
        assert await running == 0

    lease = store.leases[settings.lease_name]
    assert not lease.held  # released: the next pod may start at once
    final = reports.facts[-1]
    assert final.phase == "Stopped"
    # Written before the release, while the lease was still ours: with our token, so the
    # operator takes it; and giving the lease up is not reported as losing it.
    connected = next(f for f in reports.facts if f.phase == "Connected")
    assert final.fencing_token is not None
    assert final.fencing_token == connected.fencing_token
    assert not [f for f in reports.facts if "lease lost" in (f.message or "")]
    assert final.snapshot_error is not None
    assert "did not finish within 0.5 s" in final.snapshot_error
