"""The bulk worker's Prometheus metrics, read from its `WorkerStats` at scrape time.

The worker already counts what it does (`WorkerStats`: claims, runs by how they
ended, batches, rows published, publish retries, cursor writes, the most CSV
bytes held at once); a collector reads those at each scrape, so nothing is
counted twice and the hot publishing loop calls no metric. A job's progress
(published, sent, delivered …) is the job's, in DynamoDB and the API
(`GET /v1/bulk/{id}`); these say what this worker did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from session_runner.bulk.worker import WorkerStats


class WorkerStatsCollector(Collector):
    """`stats()` as wafleet_bulk_* metrics."""

    def __init__(self, stats: Callable[[], WorkerStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        counters = (
            ("wafleet_bulk_claims", "Jobs this worker claimed.", stats.claims),
            ("wafleet_bulk_batches", "PublishBatch calls that succeeded.", stats.batches),
            (
                "wafleet_bulk_rows_published",
                "Rows SNS took (re-publishes after a takeover included).",
                stats.published,
            ),
            ("wafleet_bulk_publish_retries", "PublishBatch calls retried.", stats.publish_retries),
            ("wafleet_bulk_cursor_writes", "Cursor writes to the jobs table.", stats.cursor_writes),
        )
        for name, documentation, value in counters:
            yield CounterMetricFamily(name, documentation, value=value)
        runs = CounterMetricFamily(
            "wafleet_bulk_runs", "Job runs that ended, by how.", labels=["ending"]
        )
        for ending, count in sorted(stats.runs.items()):
            runs.add_metric([ending], count)
        yield runs
        yield GaugeMetricFamily(
            "wafleet_bulk_peak_buffered_bytes",
            "The most CSV bytes the reader held at once.",
            value=stats.peak_buffered_bytes,
        )


def worker_registry(stats: Callable[[], WorkerStats]) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(WorkerStatsCollector(stats))
    return registry
