"""The bulk worker's metrics say what its `WorkerStats` say, read at scrape time."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from session_runner.bulk.metrics import worker_registry
from session_runner.bulk.worker import WorkerStats


def samples(stats: WorkerStats) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(worker_registry(lambda: stats)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_each_count_is_a_metric_and_follows_the_stats() -> None:
    stats = WorkerStats()
    assert samples(stats)[("wafleet_bulk_rows_published_total", ())] == 0
    stats.claims, stats.batches, stats.published = 2, 30, 297
    stats.publish_retries, stats.cursor_writes, stats.peak_buffered_bytes = 1, 4, 262_144
    stats.runs = {"finished": 1, "taken_over": 1}
    assert samples(stats) == {
        ("wafleet_bulk_claims_total", ()): 2,
        ("wafleet_bulk_batches_total", ()): 30,
        ("wafleet_bulk_rows_published_total", ()): 297,
        ("wafleet_bulk_publish_retries_total", ()): 1,
        ("wafleet_bulk_cursor_writes_total", ()): 4,
        ("wafleet_bulk_runs_total", (("ending", "finished"),)): 1,
        ("wafleet_bulk_runs_total", (("ending", "taken_over"),)): 1,
        ("wafleet_bulk_peak_buffered_bytes", ()): 262_144,
    }
