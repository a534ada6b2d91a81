"""Runners of one account share one `status.runner`: who may write it, and the leader's re-assert.

Real `SessionRunner`s in one event loop, on one in-memory Lease store (held
to the same contract suite as Kubernetes and DynamoDB), reporting through the
real `FileReporter` to one shared file, as two pods share one account status.
The integration twin on the real API server is
tests/integration/test_duplicate_runners.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from session_runner.contract.settings import RunnerSettings
from session_runner.session.engines.local import LocalEngine, LocalEngineOptions
from session_runner.session.lease.memory import InMemoryLeaseBackend, InMemoryLeaseStore
from session_runner.session.lease.record import LeaseRecord
from session_runner.session.report import FileReporter
from session_runner.session.runner import SessionRunner

REPORT_LOGGER = "session_runner.session.report"


async def _nothing(session_dir: Path, token: int) -> None:
    """No snapshot store."""


class Account:
    """One account: its Lease store, its shared status file, and the runners started on it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.store = InMemoryLeaseStore()
        self.status_file = tmp_path / "status.json"
        self.runners: list[tuple[SessionRunner, asyncio.Event, asyncio.Task[int]]] = []

    def settings(self, pod: str, **more: Any) -> RunnerSettings:
        values: dict[str, Any] = {
            "account_name": "demo",
            "phone_number": "+15550100001",
            "engine": "local",
            "pod_name": pod,
            "session_dir": self.tmp_path / pod / "session",
            "lease_duration_seconds": 3,
            "lease_renew_deadline_seconds": 2,
            "lease_retry_period_seconds": 0.5,
            **more,
        }
        return RunnerSettings(**values)

    def start(self, pod: str, **more: Any) -> SessionRunner:
        settings = self.settings(pod, **more)
        runner = SessionRunner(
            settings,
            InMemoryLeaseBackend(self.store, settings.lease_name),
            FileReporter(self.status_file),
            lambda: LocalEngine(LocalEngineOptions(auto_login_after_s=0, identity=pod)),
            restore=_nothing,
            snapshot=_nothing,
        )
        stop = asyncio.Event()
        self.runners.append((runner, stop, asyncio.create_task(runner.run(stop))))
        return runner

    def status(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.status_file.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return {}

    def write_status(self, report: dict[str, Any]) -> None:
        """What another writer (a successor, a person, a lost write's aftermath) leaves there."""
        self.status_file.write_text(json.dumps(report), encoding="utf-8")


@pytest.fixture
async def account(tmp_path: Path) -> AsyncIterator[Account]:
    acct = Account(tmp_path)
    yield acct
    for _, stop, _ in acct.runners:
        stop.set()
    for _, _, task in acct.runners:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 20)


#: A bound on a hang, never a timing assertion.
WAIT_LIMIT_S = 30.0


async def wait_until(predicate: Callable[[], Any], what: str) -> Any:
    """Poll until `predicate` is truthy; fail naming `what`.

    Polling, not an Event: the facts are a file and log records, which signal nothing.
    """
    try:
        async with asyncio.timeout(WAIT_LIMIT_S):
            while not (result := predicate()):  # noqa: ASYNC110 - a file and log records
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    return result


def withheld(caplog: pytest.LogCaptureFixture, phase: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == REPORT_LOGGER
        and r.getMessage().startswith("status report withheld")
        and getattr(r, "phase", None) == phase
    ]


def unchanged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == REPORT_LOGGER and r.getMessage() == "status report unchanged"
    ]


async def leader_connected(account: Account) -> dict[str, Any]:
    found = await wait_until(
        lambda: (s := account.status()).get("phase") == "Connected" and s, "the leader connected"
    )
    assert isinstance(found["fencingToken"], int)
    return dict(found)


async def test_a_standby_never_replaces_the_leaders_report(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=REPORT_LOGGER)
    account.start("waa-demo-0")
    leading = await leader_connected(account)

    account.start("waa-demo-0")  # the duplicated pod: same name, its own lease identity
    await wait_until(
        lambda: withheld(caplog, "Standby") or account.status().get("phase") == "Standby",
        "the standby's first report (withheld, or written over the leader's)",
    )

    now = account.status()
    assert (now["phase"], now["fencingToken"]) == ("Connected", leading["fencingToken"])
    (record,) = withheld(caplog, "Standby")
    assert getattr(record, "current_token", None) == leading["fencingToken"]


async def test_a_deposed_leaders_lost_report_never_undoes_its_successors(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=REPORT_LOGGER)
    old = account.start("waa-demo-0")
    leading = await leader_connected(account)
    token = leading["fencingToken"]

    # A successor took the Lease (and reported) while this runner was, say, partitioned.
    name = old.settings.lease_name
    account.store.write(
        name,
        replace(account.store.leases[name], holder="waa-demo-0_successor", transitions=token + 1),
    )
    successor = {**leading, "phase": "Restoring", "fencingToken": token + 1}
    account.write_status(successor)

    await wait_until(
        lambda: withheld(caplog, "Standby") or account.status() != successor,
        "the deposed runner's lost-lease report (withheld, or written over the successor's)",
    )
    assert account.status() == successor


async def test_a_deposed_leader_replaces_its_own_report_when_no_successor_reported(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a successor's report, the last word on the session is the runner's own."""
    caplog.set_level(logging.INFO, logger=REPORT_LOGGER)
    old = account.start("waa-demo-0")
    leading = await leader_connected(account)
    name = old.settings.lease_name
    account.store.write(
        name,
        replace(
            account.store.leases[name],
            holder="waa-demo-0_successor",
            transitions=leading["fencingToken"] + 1,
        ),
    )
    lost = await wait_until(
        lambda: (s := account.status()).get("phase") == "Standby" and s, "the lost-lease report"
    )
    assert lost.get("fencingToken") is None
    assert "lease lost" in lost["message"]


async def test_the_leader_reasserts_a_report_that_was_overwritten(account: Account) -> None:
    account.start("waa-demo-0", report_interval_seconds=0.2)
    leading = await leader_connected(account)
    account.write_status(
        {"phase": "Standby", "holder": "waa-demo-0", "reportedAt": "2026-11-23T12:00:00Z"}
    )
    healed = await wait_until(
        lambda: (s := account.status()).get("phase") == "Connected" and s, "the re-assert"
    )
    assert healed["fencingToken"] == leading["fencingToken"]


async def test_a_reassert_writes_nothing_while_the_status_says_what_was_reported(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    """Every write wakes the operator (it reconciles on each change of status.runner)."""
    caplog.set_level(logging.DEBUG, logger=REPORT_LOGGER)
    account.start("waa-demo-0", report_interval_seconds=0.2)
    await leader_connected(account)
    before = account.status_file.read_bytes()
    seen = len(unchanged(caplog))
    await wait_until(lambda: len(unchanged(caplog)) >= seen + 3, "three re-asserts")
    assert account.status_file.read_bytes() == before


async def test_a_standby_reports_while_nobody_leads(account: Account) -> None:
    """A brand-new account: the standby's report is the only news, so it is written."""
    name = account.settings("waa-demo-0").lease_name
    # Someone else holds the lease and never reported (e.g. a runner that just started).
    account.store.write(
        name,
        LeaseRecord(
            holder="elsewhere_1",
            lease_duration_s=60,
            acquire_time=datetime.now(UTC),
            renew_time=datetime.now(UTC),
            transitions=1,
        ),
    )
    account.start("waa-demo-0")
    standby = await wait_until(
        lambda: (s := account.status()).get("phase") == "Standby" and s, "the standby's report"
    )
    assert standby.get("fencingToken") is None
