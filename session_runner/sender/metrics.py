"""Prometheus metrics of one sender replica, read from its `Sender` when Prometheus scrapes.

A collector, not counters incremented along the way: the worker already counts
what it does (`SenderStats`) at the one place each outcome is decided, so a
second set of counters beside it could only drift from it, and the worker would
have to know about Prometheus. `SenderCollector` turns the numbers into samples
at scrape time; a scrape costs no I/O.

The families (every sample labelled ``pool="<namespace>/<name>"``, so a dashboard
sums the replicas of one pool without joining on pod labels):

- ``wafleet_sender_messages_total{outcome}``: sent, failed (permanently, or an
  unknown outcome that could not be resolved), retried (released for another
  try), duplicate (already settled in the ledger: not sent again), unknown (the
  vendor may have it; the claim is kept until it expires);
- ``wafleet_sender_received_messages_total``: queue messages received;
- ``wafleet_sender_late_slots_total``: send times given up for waking too late;
- ``wafleet_sender_messages_holding``: received and not settled yet (at most the
  pool's ``concurrency``);
- ``wafleet_sender_pool_paused``: 1 while the vendor's throttle pauses the whole
  pool, as this replica last saw the pool's limiter item (`WatchedRateLimiter`).

The registry is the sender's own, with the process collectors beside it, not
prometheus_client's default one: that holds the session runner's lease metrics,
which mean nothing in a sender.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from session_runner.sender.rate_decision import RateState
from session_runner.sender.ratelimit import PoolRateLimiter
from session_runner.sender.worker import SenderStats

#: The ``outcome`` label of ``wafleet_sender_messages_total`` → the `SenderStats` field it reads.
OUTCOMES: Final = (
    ("sent", "sent"),
    ("failed", "failed"),
    ("retried", "retried"),
    ("duplicate", "duplicates_skipped"),
    ("unknown", "unknown"),
)


def outcome_counts(stats: SenderStats) -> dict[str, int]:
    """Messages settled by this replica, by outcome label."""
    return {outcome: int(getattr(stats, field)) for outcome, field in OUTCOMES}


def pool_label(namespace: str, name: str) -> str:
    """The ``pool`` label: a pool's name is unique only within its namespace."""
    return f"{namespace}/{name}"


@dataclass(frozen=True)
class SenderView:
    """What the collector reads, each at scrape time: the replica's `SenderStats` (the
    object itself, which the Sender keeps updating), how many messages it holds, and
    whether the pool is paused (None: not known, no sample)."""

    pool: str
    stats: SenderStats
    holding: Callable[[], int]
    paused: Callable[[], bool] | None = None


def sender_families(view: SenderView) -> list[Metric]:
    """The metric families of one replica, as of now."""
    labels = [view.pool]
    messages = CounterMetricFamily(
        "wafleet_sender_messages",
        "Messages this replica settled, by outcome.",
        labels=["pool", "outcome"],
    )
    for outcome, count in outcome_counts(view.stats).items():
        messages.add_metric([view.pool, outcome], count)
    received = CounterMetricFamily(
        "wafleet_sender_received_messages",
        "Queue messages this replica received (a redelivery counts again).",
        labels=["pool"],
    )
    received.add_metric(labels, view.stats.received)
    late = CounterMetricFamily(
        "wafleet_sender_late_slots",
        "Send times given up because the replica woke too late for them (a loaded node).",
        labels=["pool"],
    )
    late.add_metric(labels, view.stats.late_slots)
    holding = GaugeMetricFamily(
        "wafleet_sender_messages_holding",
        "Messages received and not yet settled.",
        labels=["pool"],
    )
    holding.add_metric(labels, view.holding())
    families: list[Metric] = [messages, received, late, holding]
    if view.paused is not None:
        paused = GaugeMetricFamily(
            "wafleet_sender_pool_paused",
            "1 while a vendor's throttle pauses the whole pool, as this replica last saw it.",
            labels=["pool"],
        )
        paused.add_metric(labels, 1 if view.paused() else 0)
        families.append(paused)
    return families


class SenderCollector:
    """A prometheus_client collector over one `SenderView`."""

    def __init__(self, view: SenderView) -> None:
        self.view = view

    def collect(self) -> Iterable[Metric]:
        return sender_families(self.view)


def role_registry(collector: Collector, *, process: bool = True) -> CollectorRegistry:
    """A role's own registry: its `collector`, and (``process``) the process, platform and
    garbage-collector collectors (memory, CPU, open files) that the default registry has."""
    registry = CollectorRegistry()
    registry.register(collector)
    if process:
        for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(standard)
    return registry


def sender_registry(view: SenderView, *, process: bool = True) -> CollectorRegistry:
    """The replica's registry: its `SenderCollector` (`role_registry`)."""
    return role_registry(SenderCollector(view), process=process)


def build_metrics_app(registry: CollectorRegistry) -> web.Application:
    """``GET /metrics`` with `registry` in Prometheus' text format."""

    async def scrape(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    return app


class WatchedRateLimiter(PoolRateLimiter):
    """The pool's limiter, remembering the latest throttle it has seen, for the metric.

    Free: the Sender asks the limiter for the pool's state before every receive
    (``recent_state``: every few seconds while the pool is paused, at most one long
    poll apart otherwise) and writes it on a throttle; this keeps what those calls
    already return. Another replica's throttle shows here once this replica's check
    sees it (at most the check's allowed age later).
    """

    def __init__(self, *args: Any, clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(*args, clock=clock, **kwargs)
        self._wall_clock = clock
        self.seen_throttled_until = 0.0

    async def state(self) -> RateState:
        return self._saw(await super().state())

    async def recent_state(self, max_age_s: float) -> RateState:
        return self._saw(await super().recent_state(max_age_s))

    def _saw(self, state: RateState) -> RateState:
        self.seen_throttled_until = state.throttled_until
        return state

    async def throttle(self, retry_after_s: float, reason: str) -> None:
        until = self._wall_clock() + retry_after_s  # the written item holds at least this
        await super().throttle(retry_after_s, reason)
        self.seen_throttled_until = max(self.seen_throttled_until, until)

    def paused(self) -> bool:
        """Whether the pool is paused now, as far as this replica knows."""
        return self._wall_clock() < self.seen_throttled_until
