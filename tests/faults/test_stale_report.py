"""A stale status report the operator's rule accepts: found by the fault trials (seed 12).

Timeline (Kubernetes backend, two runners, deterministic):

1. r0 holds the lease with fencing token N and reports it; r1 waits. (N is 1 on
   the Lease the operator creates: claiming a Lease nobody held yet counts as a
   transition; the emulator's runner-created Lease started at 0.)
2. Status writes start failing (500 on `.../status`): reports are best effort
   and never retried.
3. r0 is SIGSTOPped past the lease duration; r1 takes over with token N+1 and
   reports "Restoring" / "Connected" with token N+1, and both reports are lost.
4. Status writes work again; r0 is continued: it kills its engine at once
   (no overlap) and reports "Standby: lease lost" *with its old token N*.
5. The operator's rule (`runner_report_is_current`) compares the token only
   with the highest token it accepted from reports, N, so it accepts the
   stale report: the account shows holder r0, token N, while r1 (token N+1)
   runs the session, until r1 happens to report again.

The rule cannot know about token N+1 from reports alone. Either fix closes it:
the runner stops reporting with a token it no longer holds
(`SessionRunner._lost` and the post-release reports: `self._token = None`
before reporting, so the rule ignores them), and, for reports delayed in the
network, the operator also refuses tokens below the Lease's
`spec.leaseTransitions`, which is the real "highest token issued".

Both fixes are in place (session.py and wafleet_operator.reconcile.highest_token);
this test keeps them there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.proxy import Window
from tests.faults.trial import Plan, Stores, _Trial, _wait
from tests.harness.control_plane import ControlPlane


@pytest.fixture(scope="module")
def stores(control_plane: ControlPlane, wafleet_crds: None) -> Iterator[Stores]:
    """The session's real control plane (a namespace of its own, the session's CRDs) and
    a moto server."""
    with Stores(control_plane) as shared:
        yield shared


def _acquired(journal: Path) -> dict[str, list[int]]:
    """Pod -> the fencing tokens it acquired, in order, from the shim's journal."""
    if not journal.exists():
        return {}
    lines = [json.loads(x) for x in journal.read_text().splitlines() if x.strip()]
    tokens: dict[str, list[int]] = {}
    for r in lines:
        if r["kind"] == "acquired":
            tokens.setdefault(r["pod"], []).append(int(r["token"]))
    return tokens


def _reporters(journal: Path) -> set[str]:
    """Pods that have tried at least one status report, from the shim's journal."""
    if not journal.exists():
        return set()
    lines = [json.loads(x) for x in journal.read_text().splitlines() if x.strip()]
    return {r["pod"] for r in lines if r["kind"] == "report"}


def _reports_since(journal: Path, pod: str, since: float) -> list[dict[str, Any]]:
    """The pod's report attempts (written or withheld) that started after `since`."""
    if not journal.exists():
        return []
    lines = [json.loads(x) for x in journal.read_text().splitlines() if x.strip()]
    return [r for r in lines if r["kind"] == "report" and r["pod"] == pod and r["sent"] > since]


def test_a_runner_that_lost_its_lease_does_not_overwrite_the_status(
    stores: Stores, tmp_path: Path
) -> None:
    trial = _Trial(
        Plan(
            seed=100_012, backend="kubernetes", windows=(), process_faults=(), wall_jumps=("",) * 3
        ),
        stores,
        tmp_path,
    )
    trial.proxy.start()
    try:
        trial.prepare()
        trial.start(0)
        assert _wait(lambda: "r0" in _acquired(trial.journal), 30)
        first = _acquired(trial.journal)["r0"][0]
        trial.start(1)
        # r1 is up and competing once it has tried its first (Standby) report. Whether
        # that report lands is the runner's business: a standby no longer replaces the
        # leader's report, so the journal's attempt is the sync point, not a status write.
        assert _wait(lambda: "r1" in _reporters(trial.journal), 30)
        trial.proxy.add(Window("status500", 0.0, float("inf"), path=r"/status$"))
        trial.pause(0)
        assert _wait(lambda: _acquired(trial.journal).get("r1") == [first + 1], 30)
        assert _wait(lambda: len(trial.active_pids()) == 2, 10)  # r1 live; r0 frozen
        trial.proxy.heal()
        healed_at = len(trial.proxy.status_writes)
        woke_at = time.monotonic()
        trial.resume(0)
        assert _wait(lambda: len(trial.active_pids()) == 1, 10)
        # r0's "lease lost" report after waking, from the shim's journal (monotonic
        # clocks are system-wide). It carries no token. If r1's first report since the
        # heal landed before it, `decide_write` withholds it (NOT_MINE): both are right,
        # and the status must then show r1, never r0.
        assert _wait(lambda: _reports_since(trial.journal, "r0", woke_at), 20), (
            "r0 did not try to report after waking"
        )
        woke_report = _reports_since(trial.journal, "r0", woke_at)[0]
        assert woke_report["token"] is None
        r0_writes = [
            w for w in trial.proxy.status_writes[healed_at:] if w.runner.get("holder") == "r0"
        ]
        if woke_report["ok"]:
            assert r0_writes, "r0's report was accepted but no write reached the API server"
        else:
            assert r0_writes == []
            assert any(
                w.runner.get("holder") == "r1" for w in trial.proxy.status_writes[healed_at:]
            ), "r0's report was withheld, yet r1 had not reported since the heal"
    finally:
        end = trial.shutdown()
        trial.proxy.stop()
    result = trial.run_checks(end)
    assert result.overlaps == []
    assert result.stale_writes_accepted == 0, result.describe()
