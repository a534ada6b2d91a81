"""A stale status report the operator's rule accepts: found by the fault trials (seed 12).

Timeline (Kubernetes backend, two runners, deterministic):

1. r0 holds the lease with fencing token 0 and reports it; r1 waits.
2. Status writes start failing (500 on `.../status`): reports are best effort
   and never retried.
3. r0 is SIGSTOPped past the lease duration; r1 takes over with token 1 and
   reports "Restoring" / "Connected" with token 1, and both reports are lost.
4. Status writes work again; r0 is continued: it kills its engine at once
   (no overlap) and reports "Standby: lease lost" *with its old token 0*.
5. The operator's rule (`runner_report_is_current`) compares the token only
   with the highest token it accepted from reports, 0, so it accepts the
   stale report: the account shows holder r0, token 0, while r1 (token 1)
   runs the session, until r1 happens to report again.

The rule cannot know about token 1 from reports alone. Either fix closes it:
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
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.proxy import Window
from tests.faults.trial import Plan, Stores, _Trial, _wait


@pytest.fixture(scope="module")
def stores() -> Iterator[Stores]:
    with Stores() as shared:
        yield shared


def _acquired(journal: Path) -> dict[int, str]:
    """Fencing token -> pod, from the shim's journal."""
    if not journal.exists():
        return {}
    lines = [json.loads(x) for x in journal.read_text().splitlines() if x.strip()]
    return {r["token"]: r["pod"] for r in lines if r["kind"] == "acquired"}


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
        assert _wait(lambda: _acquired(trial.journal).get(0) == "r0", 30)
        trial.start(1)
        assert _wait(
            lambda: any(w.runner.get("holder") == "r1" for w in trial.proxy.status_writes), 30
        )
        trial.proxy.add(Window("status500", 0.0, float("inf"), path=r"/status$"))
        trial.pause(0)
        assert _wait(lambda: _acquired(trial.journal).get(1) == "r1", 30)
        assert _wait(lambda: len(trial.active_pids()) == 2, 10)  # r1 live; r0 frozen
        trial.proxy.heal()
        healed_at = len(trial.proxy.status_writes)
        trial.resume(0)
        assert _wait(lambda: len(trial.active_pids()) == 1, 10)
        # r1 may report too once writes work again, so look for r0's report among the
        # writes since the heal rather than expecting it to be the last one.
        assert _wait(
            lambda: any(
                w.runner.get("holder") == "r0" for w in trial.proxy.status_writes[healed_at:]
            ),
            10,
        ), "r0 did not report after waking"
    finally:
        end = trial.shutdown()
        trial.proxy.stop()
    result = trial.run_checks(end)
    assert result.overlaps == []
    assert result.stale_writes_accepted == 0, result.describe()
