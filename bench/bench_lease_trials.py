"""`make bench ONLY=lease-trials`: issue 5, point 9, at full count (default 1,000 trials).

Each trial is three real runner processes for one account under a seeded
schedule of faults (tests/faults/trial.py explains the trial and every
fault kind). Even seeds run on a real kube-apiserver's Lease: `Stores()`
starts a control plane (the test harness's, envtest-style) in a temporary
folder and stops it afterwards; odd seeds on moto's DynamoDB. Metrics:

- trials: how many ran (goal >= 1000; WAFLEET_LEASE_TRIALS overrides the count).
- overlaps: overlapping live sessions of one account over all trials (goal 0).
  Baseline: the same checks on `WAFLEET_LEASE_TRIALS_BASELINE` (default 4)
  trials of naive runners that do not exclude each other, so a zero means the
  lease held, not that the check was blind.
- stale_writes_accepted: status writes with a token below one already
  acquired when they landed that the operator's rule would accept (goal 0).
- healed_trials: trials in which one runner was active again within the
  bound after every fault healed (goal: all of them).
- wake_to_kill_seconds_max: the longest a runner woken by SIGCONT past its
  deadline kept its engine live before killing it (its frozen time is not
  counted; overlaps count only what exceeds WAKE_GRACE_S).
- trial_seconds_median: wall time of one trial (WAFLEET_LEASE_TRIALS_WORKERS at a
  time, default 2; on two cores the full 1,000 take about two hours).

Failing seeds are printed on stderr with their timelines.
"""

from __future__ import annotations

import os
import statistics
import sys

from bench.result import BenchResult
from tests.faults.trial import WAKE_GRACE_S, Stores, run_trials, trial_count, trial_workers

BENCH = "lease-trials"


def run() -> list[BenchResult]:
    count = trial_count(1000)
    base = int(os.environ.get("WAFLEET_LEASE_TRIALS_SEED") or 0)
    baseline_count = int(os.environ.get("WAFLEET_LEASE_TRIALS_BASELINE") or 4)
    with Stores() as stores:
        workers = trial_workers()
        naive = run_trials(range(base, base + baseline_count), stores, workers=workers, naive=True)
        results = run_trials(range(base, base + count), stores, workers=workers)
    for result in results:
        if not result.ok:
            print(result.describe(), file=sys.stderr)
    overlaps = sum(len(r.overlaps) for r in results)
    return [
        BenchResult(BENCH, "trials", len(results), "trials", goal=">= 1000"),
        BenchResult(
            BENCH,
            "overlaps",
            overlaps,
            "overlaps",
            baseline=float(sum(len(r.overlaps) for r in naive)),
            goal="0",
        ),
        BenchResult(
            BENCH,
            "stale_writes_accepted",
            sum(r.stale_writes_accepted for r in results),
            "writes",
            goal="0",
        ),
        BenchResult(
            BENCH,
            "healed_trials",
            sum(r.healed for r in results),
            "trials",
            goal=f"{len(results)}",
        ),
        BenchResult(
            BENCH,
            "wake_to_kill_seconds_max",
            round(max((r.wake_to_kill_max for r in results), default=0.0), 4),
            "s",
            goal=f"<= {WAKE_GRACE_S}",
        ),
        BenchResult(
            BENCH,
            "trial_seconds_median",
            round(statistics.median(r.seconds for r in results), 2) if results else 0.0,
            "s",
        ),
    ]
