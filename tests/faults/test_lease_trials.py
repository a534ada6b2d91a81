"""Issue 5, point 9: randomized fault trials against real runner processes.

CI runs a share (`WAFLEET_LEASE_TRIALS`, default `CI_TRIALS`, about two
minutes on two cores); `make bench ONLY=lease-trials` runs the full 1,000
(bench/bench_lease_trials.py). A failing trial prints its seed and timeline;
`plan(seed)` rebuilds its fault schedule exactly.

    WAFLEET_LEASE_TRIALS=40 WAFLEET_LEASE_TRIALS_SEED=1000 pytest tests/faults -s
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.faults.trial import Stores, TrialResult, run_trials, trial_count, trial_workers
from tests.harness.control_plane import ControlPlane

CI_TRIALS = 16
BENCH_TRIALS = 200


@pytest.fixture(scope="module")
def stores(control_plane: ControlPlane, wafleet_crds: None) -> Iterator[Stores]:
    """The session's real control plane (a namespace of its own, the session's CRDs) and
    a moto server."""
    with Stores(control_plane) as shared:
        yield shared


@pytest.fixture(scope="module")
def ci_results(stores: Stores) -> list[TrialResult]:
    """The CI share, run once and judged by the tests below."""
    results = run_trials(_seeds(trial_count(CI_TRIALS)), stores, workers=trial_workers())
    _summary(results)
    return results


def _seeds(count: int) -> range:
    base = int(os.environ.get("WAFLEET_LEASE_TRIALS_SEED") or 0)
    return range(base, base + count)


def _summary(results: list[TrialResult]) -> None:
    seconds = sorted(r.seconds for r in results)
    print(
        f"\n{len(results)} trials: overlaps={sum(len(r.overlaps) for r in results)} "
        f"stale_writes={sum(r.stale_writes for r in results)} "
        f"stale_writes_accepted={sum(r.stale_writes_accepted for r in results)} "
        f"healed={sum(r.healed for r in results)} "
        f"median_trial_s={seconds[len(seconds) // 2]:.1f}"
    )


def _failing(results: list[TrialResult], broken: str) -> str:
    return "failing trials (rebuild a schedule with plan(seed)):\n" + "\n".join(
        r.describe() for r in results if getattr(r, broken)
    )


def test_never_two_sessions_at_once(ci_results: list[TrialResult]) -> None:
    """0 overlapping live intervals between runner processes, over every trial."""
    assert not any(r.overlaps for r in ci_results), _failing(ci_results, "overlaps")


def test_the_account_is_active_again_after_every_fault_heals(
    ci_results: list[TrialResult],
) -> None:
    assert all(r.healed and r.error is None for r in ci_results), "\n".join(
        r.describe() for r in ci_results if not r.healed or r.error
    )


def test_no_stale_status_write_is_accepted(ci_results: list[TrialResult]) -> None:
    assert sum(r.stale_writes_accepted for r in ci_results) == 0, _failing(
        ci_results, "stale_writes_accepted"
    )


def test_the_checks_see_overlaps_when_runners_do_not_exclude_each_other(stores: Stores) -> None:
    """The baseline: runners on separate leases must show overlaps, or the check is blind."""
    results = run_trials([7, 8], stores, workers=2, naive=True)
    assert all(r.overlaps for r in results), [r.describe() for r in results]


@pytest.mark.bench
def test_lease_holds_under_random_faults_heavy(stores: Stores) -> None:
    """A bigger share than CI's (the bench runs the full 1,000)."""
    results = run_trials(_seeds(trial_count(BENCH_TRIALS)), stores, workers=trial_workers())
    _summary(results)
    assert all(r.ok for r in results), _failing(results, "overlaps")
