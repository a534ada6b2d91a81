"""The one line format every benchmark prints and appends to bench/results.jsonl."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS_FILE = Path(__file__).with_name("results.jsonl")


@dataclass(frozen=True)
class BenchResult:
    """One metric of one benchmark; `ratio` is value / baseline when a baseline was measured."""

    bench: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    goal: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        assert self.baseline is not None
        return round(self.value / self.baseline, 4)

    def to_json(self, commit: str, at: str) -> str:
        record = asdict(self)
        record["ratio"] = self.ratio
        record["commit"] = commit
        record["at"] = at
        return json.dumps(record, sort_keys=False)


def median(values: list[float]) -> float:
    """Medians, not means: one slow run on a 2-core machine must not move the figure."""
    return float(statistics.median(values))


def current_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def emit(results: list[BenchResult]) -> None:
    """Print each result as a JSON line and append it to bench/results.jsonl."""
    commit = current_commit()
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with RESULTS_FILE.open("a", encoding="utf-8") as sink:
        for result in results:
            line = result.to_json(commit, at)
            print(line, flush=True)
            sink.write(line + "\n")
