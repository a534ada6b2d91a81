"""Prometheus metrics of one dispatcher replica, read from what it already keeps when scraped.

As the sender's (`sender.metrics`): a collector, not counters incremented beside
the worker's own. The worker counts each outcome where it decides it
(`DispatcherStats`), and tells its `Reporter` how each delivery went; the
per-subscription counts are kept by `MetricsReporter`, a Reporter that counts
and passes every call on to the real one (the status writer), so the worker
knows nothing of Prometheus and the two can never disagree. A scrape costs
no I/O.

The families (label values are subscriptions, ``namespace/name``, and fixed
words: never an event id, a URL, a reason or a secret):

- ``wafleet_dispatcher_deliveries_total{subscription, outcome}``: every attempt
  the worker reported, by what came of it: ``delivered``; ``retrying`` (failed,
  the next attempt queued); ``given_up`` (failed, not retryable or no retries
  left); ``tombstoned`` (failed, and the subscription switched off);
- ``wafleet_dispatcher_tombstones_total{subscription}``: subscriptions switched
  off by this replica, once per subscription generation (attempts in flight when
  it falls may each report the tombstone; it is one switch-off);
- ``wafleet_dispatcher_outcomes_total{outcome}``: the worker's own counts
  (`DispatcherStats.outcomes`, its keys as they are, as the stop log line shows
  them): each attempt's verdict, deliveries postponed or dropped, queue messages
  that were not ours;
- ``wafleet_dispatcher_breaker_open{subscription}``: 1 from when this replica's
  breaker for the subscription opens until an attempt to it succeeds again (a
  breaker whose cooldown is over and whose probe is due still counts as open).

Every subscription the directory lists has all its series from the first scrape
(at 0), so ``increase()`` sees even the first tombstone. The registry is the
dispatcher's own, with the process collectors beside it, not prometheus_client's
default one (the session runner's lease metrics, meaningless here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from session_runner.dispatcher.breaker import Breaker
from session_runner.dispatcher.fate import Fate
from session_runner.dispatcher.jobs import DeliveryJob
from session_runner.dispatcher.retry_decision import Decision, Verdict
from session_runner.dispatcher.subscriber import Subscriber
from session_runner.dispatcher.worker import Dispatcher, DispatcherStats, LogReporter, Reporter
from session_runner.sender.metrics import build_metrics_app, role_registry

__all__ = [
    "DELIVERY_OUTCOMES",
    "STAT_OUTCOMES",
    "DispatcherCollector",
    "DispatcherView",
    "MetricsReporter",
    "breaker_open",
    "breakers_of",
    "build_metrics_app",
    "delivery_counts",
    "delivery_outcome",
    "dispatcher_families",
    "dispatcher_registry",
    "new_tombstone",
    "outcome_counts",
]

DELIVERED: Final = "delivered"
RETRYING: Final = "retrying"
GIVEN_UP: Final = "given_up"
TOMBSTONED: Final = "tombstoned"
#: The ``outcome`` label of ``wafleet_dispatcher_deliveries_total``.
DELIVERY_OUTCOMES: Final = (DELIVERED, RETRYING, GIVEN_UP, TOMBSTONED)

#: The worker's `DispatcherStats` keys, shown at 0 before they first happen (a counter
#: that appears at 1 is invisible to ``increase()``). A key the worker adds later still
#: shows, from its first count.
STAT_OUTCOMES: Final = (
    *(verdict.value for verdict in Verdict),
    "tombstoned",
    "postponed",
    *(f.value for f in Fate if f is not Fate.ATTEMPT),  # held, dropped
    "not-an-event",
    "not-waiting-deliveries",
)

_OUTCOME_OF_VERDICT: Final[Mapping[Verdict, str]] = {
    Verdict.DELIVERED: DELIVERED,
    Verdict.RETRY: RETRYING,
    Verdict.EXHAUSTED: GIVEN_UP,
    Verdict.FAILED: GIVEN_UP,
    Verdict.TOMBSTONE: TOMBSTONED,
}


def delivery_outcome(verdict: Verdict) -> str:
    """The ``outcome`` label of an attempt the worker reported with `verdict`."""
    return _OUTCOME_OF_VERDICT[verdict]


def new_tombstone(counted: Mapping[str, int], subscription: str, generation: int) -> bool:
    """Whether a tombstone of `subscription` at `generation` is a switch-off not yet counted
    (`counted`: the generation each subscription was last counted at). A later generation
    is the subscription resurrected and switched off again: a new one."""
    return counted.get(subscription) != generation


def outcome_counts(outcomes: Mapping[str, int]) -> dict[str, int]:
    """`DispatcherStats.outcomes` as samples: every known key (0 until it happens), and any
    other key the worker counts."""
    counts = dict.fromkeys(STAT_OUTCOMES, 0)
    counts.update((key, int(value)) for key, value in outcomes.items())
    return counts


def delivery_counts(
    deliveries: Mapping[tuple[str, str], int], subscriptions: Iterable[str]
) -> dict[str, dict[str, int]]:
    """Subscription → outcome → attempts, for every subscription listed or reported, each
    with every outcome (0 until it happens)."""
    known = set(subscriptions) | {subscription for subscription, _ in deliveries}
    return {
        subscription: {
            outcome: int(deliveries.get((subscription, outcome), 0))
            for outcome in DELIVERY_OUTCOMES
        }
        for subscription in sorted(known)
    }


def breaker_open(breaker: Breaker) -> bool:
    """Open, or half-open (its cooldown over, the probe due or out): not closed by a
    success since it opened."""
    return breaker.open_until > 0.0


def breakers_of(dispatcher: Dispatcher) -> Mapping[str, Breaker]:
    """The replica's breakers by subscription (``namespace/name``), read on the event loop
    that writes them (a scrape is served there)."""
    return dispatcher.breakers()


class MetricsReporter:
    """A `worker.Reporter` that counts each report per subscription, then passes it on.

    It counts before passing on, so a report the next reporter fails to handle (the API
    server away) is counted all the same, as the worker's own stats are. Only the
    subscription and the verdict are read: never the job's id or body, nor the reason.
    """

    def __init__(self, inner: Reporter | None = None) -> None:
        self.inner: Reporter = inner or LogReporter()
        #: (subscription, outcome) → attempts
        self.deliveries: Counter[tuple[str, str]] = Counter()
        #: subscription → switch-offs
        self.tombstones: Counter[str] = Counter()
        self._tombstoned_at: dict[str, int] = {}  # the generation last counted

    async def delivered(self, subscriber: Subscriber, job: DeliveryJob, status: int) -> None:
        self.deliveries[(subscriber.key, DELIVERED)] += 1
        await self.inner.delivered(subscriber, job, status)

    async def failed(
        self,
        subscriber: Subscriber,
        job: DeliveryJob,
        decision: Decision,
        failures_24h: int,
        status: int | None = None,
    ) -> None:
        self.deliveries[(subscriber.key, delivery_outcome(decision.verdict))] += 1
        await self.inner.failed(subscriber, job, decision, failures_24h, status)

    async def tombstoned(self, subscriber: Subscriber, reason: str, failures_24h: int) -> None:
        self.deliveries[(subscriber.key, TOMBSTONED)] += 1
        if new_tombstone(self._tombstoned_at, subscriber.key, subscriber.generation):
            self._tombstoned_at[subscriber.key] = subscriber.generation
            self.tombstones[subscriber.key] += 1
        await self.inner.tombstoned(subscriber, reason, failures_24h)


def _no_subscriptions() -> list[str]:
    return []


@dataclass(frozen=True)
class DispatcherView:
    """What the collector reads, each at scrape time: the worker's stats (the object itself,
    which the worker keeps counting into), the `MetricsReporter` it reports to, its
    breakers, and the subscriptions the directory lists now."""

    stats: DispatcherStats
    reporter: MetricsReporter
    breakers: Callable[[], Mapping[str, Breaker]]
    subscriptions: Callable[[], Iterable[str]] = _no_subscriptions


def dispatcher_families(view: DispatcherView) -> list[Metric]:
    """The metric families of one replica, as of now."""
    listed = list(view.subscriptions())
    deliveries = CounterMetricFamily(
        "wafleet_dispatcher_deliveries",
        "Delivery attempts this replica made, by subscription and what came of them.",
        labels=["subscription", "outcome"],
    )
    for subscription, counts in delivery_counts(view.reporter.deliveries, listed).items():
        for outcome, count in counts.items():
            deliveries.add_metric([subscription, outcome], count)
    tombstones = CounterMetricFamily(
        "wafleet_dispatcher_tombstones",
        "Subscriptions this replica switched off (once per subscription generation).",
        labels=["subscription"],
    )
    for subscription in sorted(set(listed) | set(view.reporter.tombstones)):
        tombstones.add_metric([subscription], view.reporter.tombstones.get(subscription, 0))
    outcomes = CounterMetricFamily(
        "wafleet_dispatcher_outcomes",
        "What this replica did, by outcome: attempt verdicts, deliveries postponed or "
        "dropped, queue messages that were not ours.",
        labels=["outcome"],
    )
    for outcome, count in outcome_counts(view.stats.outcomes).items():
        outcomes.add_metric([outcome], count)
    breakers = dict(view.breakers())
    breaker = GaugeMetricFamily(
        "wafleet_dispatcher_breaker_open",
        "1 while this replica's breaker for the subscription is open: its deliveries wait "
        "on the retry queue, untried, until a probe succeeds.",
        labels=["subscription"],
    )
    for subscription in sorted(set(listed) | set(breakers)):
        state = breakers.get(subscription)
        breaker.add_metric([subscription], 1 if state is not None and breaker_open(state) else 0)
    return [deliveries, tombstones, outcomes, breaker]


class DispatcherCollector:
    """A prometheus_client collector over one `DispatcherView`."""

    def __init__(self, view: DispatcherView) -> None:
        self.view = view

    def collect(self) -> Iterable[Metric]:
        return dispatcher_families(self.view)


def dispatcher_registry(view: DispatcherView, *, process: bool = True) -> CollectorRegistry:
    """The replica's registry: its `DispatcherCollector` (`sender.metrics.role_registry`)."""
    return role_registry(DispatcherCollector(view), process=process)
