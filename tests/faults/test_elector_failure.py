"""A runner whose elector dies of an unexpected error never competes again: found by the trials.

Found with seeds 1004, 1006, 1008 and 1053 (before the proxy limited 409s to
writes): a 409 answering a *read* of the lease. `LeaseElector._renew_once`
(and `_try_acquire`) catch only LeaseBackendError around `backend.get()`, so
the LeaseConflict the backend raises for it escapes `LeaseElector.run()`.
`SessionRunner.run` then sees the elector task finished and swallows its
exception (`gather(..., return_exceptions=True)`), taking it for a fence (no
stop, `_fenced` not set): it releases the lease, reports phase "Fenced" with
an empty reason, and waits for SIGTERM forever; or, when the release's own
read fails the same way (`_release_once` also catches only
LeaseBackendError), the process dies with a traceback. With every runner of
the account in either state, the account stays down after the fault has long
healed (no overlap: a liveness failure; the crash at least gets a pod
restarted, the silent "Fenced" hang does not).

A real API server answers 409 only to writes, but any unexpected exception
(a parse error of a garbled answer, a bug) takes the same path. The fix
belongs in `SessionRunner.run` (session_runner/session/runner.py): when
`elector_task` finished by itself (not stop, not fenced), log its exception
and go round the loop to compete again instead of reporting Fenced; and, in
the elector, treat any LeaseError from a read as a failed attempt.

Both fixes are in place; this test keeps them there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.proxy import Window
from tests.faults.trial import HEAL_BOUND_S, Plan, Stores, _Trial, _wait
from tests.harness.control_plane import ControlPlane


@pytest.fixture(scope="module")
def stores(control_plane: ControlPlane, wafleet_crds: None) -> Iterator[Stores]:
    """The session's real control plane (a namespace of its own, the session's CRDs) and
    a moto server."""
    with Stores(control_plane) as shared:
        yield shared


def test_a_runner_competes_again_after_its_lease_reads_fail_oddly(
    stores: Stores, tmp_path: Path
) -> None:
    trial = _Trial(
        Plan(
            seed=100_004,
            backend="kubernetes",
            windows=(),
            process_faults=(),
            wall_jumps=("",) * 3,
        ),
        stores,
        tmp_path,
    )
    trial.proxy.start()
    try:
        trial.prepare()
        trial.start(0)
        assert _wait(lambda: len(trial.active_pids()) == 1, 30)
        now = time.monotonic()
        trial.proxy.add(
            Window("conflict", now, now + 2.0, path=r"/leases/", conflict_on_reads=True)
        )
        time.sleep(2.0)
        trial.proxy.heal()
        assert _wait(trial.one_live_active, HEAL_BOUND_S), (
            "the runner never became active again after the fault healed: "
            + (tmp_path / "r0.log").read_text()[-2000:]
        )
    finally:
        trial.shutdown()
        trial.proxy.stop()
