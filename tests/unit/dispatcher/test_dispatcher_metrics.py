"""A dispatcher replica's metrics: per subscription from the reports it passes on, overall from
the worker's own stats, its breakers, all read when scraped; labels never carry secrets."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from session_runner.dispatcher import worker
from session_runner.dispatcher.breaker import Breaker
from session_runner.dispatcher.jobs import DeliveryJob
from session_runner.dispatcher.metrics import (
    DELIVERY_OUTCOMES,
    STAT_OUTCOMES,
    DispatcherView,
    MetricsReporter,
    breaker_open,
    delivery_counts,
    delivery_outcome,
    dispatcher_registry,
    new_tombstone,
    outcome_counts,
)
from session_runner.dispatcher.retry_decision import Decision, Verdict
from session_runner.dispatcher.subscriber import Subscriber
from session_runner.dispatcher.worker import DispatcherStats

SECRET = "whsec_c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1uZXZlci1zaG93"
WEBHOOK_ID = "evt_" + "0123456789abcdef" * 2


def subscriber(name: str = "crm", namespace: str = "shop", generation: int = 1) -> Subscriber:
    return Subscriber(
        namespace=namespace,
        name=name,
        generation=generation,
        url=f"https://hooks.example.com/{name}?token={SECRET}",
        event_types=frozenset({"message.received"}),
        accounts=frozenset(),
        secret_name="hooks-secret",
        secret_key="secret",
    )


def job(sub: Subscriber, attempt: int = 1) -> DeliveryJob:
    return DeliveryJob(
        webhook_id=WEBHOOK_ID,
        namespace=sub.namespace,
        subscription=sub.name,
        generation=sub.generation,
        attempt=attempt,
        due_at=0.0,
        body=f'{{"text": "{SECRET}"}}',
    )


class Recorder:
    """The next reporter: keeps every call it is passed, with its arguments."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.fail = fail

    def _heard(self, *call: object) -> None:
        self.calls.append(call)
        if self.fail:
            raise RuntimeError("the API server is away")

    async def delivered(self, subscriber: Subscriber, job: DeliveryJob, status: int) -> None:
        self._heard("delivered", subscriber, job, status)

    async def failed(
        self,
        subscriber: Subscriber,
        job: DeliveryJob,
        decision: Decision,
        failures_24h: int,
        status: int | None = None,
    ) -> None:
        self._heard("failed", subscriber, job, decision, failures_24h, status)

    async def tombstoned(self, subscriber: Subscriber, reason: str, failures_24h: int) -> None:
        self._heard("tombstoned", subscriber, reason, failures_24h)


# ---------------------------------------------------------------- the pure parts


@pytest.mark.parametrize(
    ("verdict", "outcome"),
    [
        (Verdict.DELIVERED, "delivered"),
        (Verdict.RETRY, "retrying"),
        (Verdict.EXHAUSTED, "given_up"),
        (Verdict.FAILED, "given_up"),
        (Verdict.TOMBSTONE, "tombstoned"),
    ],
)
def test_each_verdict_is_one_delivery_outcome(verdict: Verdict, outcome: str) -> None:
    assert delivery_outcome(verdict) == outcome
    assert outcome in DELIVERY_OUTCOMES


def test_every_verdict_has_a_delivery_outcome() -> None:
    """A verdict added later must get an outcome (this fails with a KeyError otherwise)."""
    assert {delivery_outcome(verdict) for verdict in Verdict} == set(DELIVERY_OUTCOMES)


@pytest.mark.parametrize(
    ("counted", "subscription", "generation", "new"),
    [
        pytest.param({}, "shop/crm", 1, True, id="first"),
        pytest.param({"shop/crm": 1}, "shop/crm", 1, False, id="in-flight attempts: the same"),
        pytest.param({"shop/crm": 1}, "shop/crm", 2, True, id="resurrected and again"),
        pytest.param({"shop/crm": 1}, "shop/erp", 1, True, id="another subscription"),
        pytest.param({"other/crm": 1}, "shop/crm", 1, True, id="same name elsewhere"),
    ],
)
def test_a_tombstone_counts_once_per_generation(
    counted: dict[str, int], subscription: str, generation: int, new: bool
) -> None:
    assert new_tombstone(counted, subscription, generation) is new


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        pytest.param({}, {}, id="nothing yet: every known one at 0"),
        pytest.param({"delivered": 3, "postponed": 2}, {"delivered": 3, "postponed": 2}, id="some"),
        pytest.param({"a-new-one": 1}, {"a-new-one": 1}, id="a key added later still shows"),
    ],
)
def test_outcome_counts(outcomes: dict[str, int], expected: dict[str, int]) -> None:
    assert outcome_counts(Counter(outcomes)) == {**dict.fromkeys(STAT_OUTCOMES, 0), **expected}


def test_every_outcome_the_worker_counts_is_known() -> None:
    """A `stats.count("…")` added to worker.py later must be named in STAT_OUTCOMES (else its
    counter would appear at 1, which ``increase()`` misses); verdicts are counted by value."""
    source = Path(worker.__file__).read_text()
    counted = set(re.findall(r"stats\.count\(\s*\"([^\"]+)\"\s*\)", source))
    assert counted
    assert counted <= set(STAT_OUTCOMES), counted - set(STAT_OUTCOMES)
    assert {verdict.value for verdict in Verdict} <= set(STAT_OUTCOMES)


@pytest.mark.parametrize(
    ("deliveries", "listed", "expected"),
    [
        pytest.param({}, [], {}, id="nothing"),
        pytest.param({}, ["shop/crm"], {"shop/crm": {}}, id="listed, nothing reported yet"),
        pytest.param(
            {("shop/crm", "delivered"): 4, ("shop/crm", "retrying"): 1},
            [],
            {"shop/crm": {"delivered": 4, "retrying": 1}},
            id="reported, no longer listed",
        ),
        pytest.param(
            {("shop/crm", "tombstoned"): 1},
            ["shop/crm", "shop/erp"],
            {"shop/crm": {"tombstoned": 1}, "shop/erp": {}},
            id="both",
        ),
    ],
)
def test_delivery_counts_give_every_known_subscription_every_outcome(
    deliveries: dict[tuple[str, str], int],
    listed: list[str],
    expected: dict[str, dict[str, int]],
) -> None:
    zeros = dict.fromkeys(DELIVERY_OUTCOMES, 0)
    assert delivery_counts(Counter(deliveries), listed) == {
        subscription: {**zeros, **counts} for subscription, counts in expected.items()
    }


@pytest.mark.parametrize(
    ("breaker", "is_open"),
    [
        pytest.param(Breaker(), False, id="closed"),
        pytest.param(Breaker(failures_in_a_row=4), False, id="failing, not yet open"),
        pytest.param(Breaker(5, open_until=1000.0, opened=1), True, id="open"),
        pytest.param(Breaker(5, 1000.0, probing=True, opened=1), True, id="half-open, probing"),
        pytest.param(Breaker(5, open_until=1.0, opened=3), True, id="cooldown over, probe due"),
    ],
)
def test_breaker_open(breaker: Breaker, is_open: bool) -> None:
    assert breaker_open(breaker) is is_open


# ---------------------------------------------------------------- the reporter


async def test_the_reporter_counts_each_report_and_passes_it_on_unchanged() -> None:
    crm, erp = subscriber("crm"), subscriber("erp")
    retry = Decision(Verdict.RETRY, delay_s=5.0, reason="HTTP 503")
    refused = Decision(Verdict.FAILED, reason="HTTP 400")
    exhausted = Decision(Verdict.EXHAUSTED, reason="HTTP 503 after 8 attempts")
    inner = Recorder()
    reporter = MetricsReporter(inner)

    await reporter.delivered(crm, job(crm), 204)
    await reporter.failed(crm, job(crm), retry, 1, 503)
    await reporter.delivered(crm, job(crm, 2), 200)
    await reporter.failed(erp, job(erp), refused, 1, 400)
    await reporter.failed(erp, job(erp, 8), exhausted, 2, 503)
    await reporter.tombstoned(erp, "HTTP 410: the subscriber is gone", 3)

    assert reporter.deliveries == Counter(
        {
            ("shop/crm", "delivered"): 2,
            ("shop/crm", "retrying"): 1,
            ("shop/erp", "given_up"): 2,
            ("shop/erp", "tombstoned"): 1,
        }
    )
    assert reporter.tombstones == Counter({"shop/erp": 1})
    assert inner.calls == [
        ("delivered", crm, job(crm), 204),
        ("failed", crm, job(crm), retry, 1, 503),
        ("delivered", crm, job(crm, 2), 200),
        ("failed", erp, job(erp), refused, 1, 400),
        ("failed", erp, job(erp, 8), exhausted, 2, 503),
        ("tombstoned", erp, "HTTP 410: the subscriber is gone", 3),
    ]


async def test_attempts_in_flight_reporting_one_tombstone_count_one_switch_off() -> None:
    first, again = subscriber(generation=1), subscriber(generation=2)
    reporter = MetricsReporter(Recorder())
    for _ in range(3):  # three attempts in flight when the 21st failure fell
        await reporter.tombstoned(first, "21 failed attempts in 24 hours", 21)
    await reporter.tombstoned(again, "HTTP 410: the subscriber is gone", 1)  # resurrected, gone
    assert reporter.tombstones == Counter({"shop/crm": 2})
    assert reporter.deliveries == Counter({("shop/crm", "tombstoned"): 4})


async def test_a_report_the_next_reporter_fails_on_is_counted_all_the_same() -> None:
    crm = subscriber()
    reporter = MetricsReporter(Recorder(fail=True))
    with pytest.raises(RuntimeError):
        await reporter.tombstoned(crm, "HTTP 410", 1)
    with pytest.raises(RuntimeError):
        await reporter.delivered(crm, job(crm), 204)
    assert reporter.tombstones == Counter({"shop/crm": 1})
    assert reporter.deliveries == Counter(
        {("shop/crm", "tombstoned"): 1, ("shop/crm", "delivered"): 1}
    )


async def test_without_a_next_reporter_it_logs_as_the_worker_would() -> None:
    crm = subscriber()
    reporter = MetricsReporter()
    assert isinstance(reporter.inner, worker.LogReporter)
    await reporter.delivered(crm, job(crm), 204)
    assert reporter.deliveries == Counter({("shop/crm", "delivered"): 1})


# ---------------------------------------------------------------- the collector


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(view: DispatcherView, *, process: bool = False) -> tuple[str, Samples]:
    text = generate_latest(dispatcher_registry(view, process=process)).decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


def view_of(
    stats: DispatcherStats,
    reporter: MetricsReporter,
    breakers: Mapping[str, Breaker] | None = None,
    listed: list[str] | None = None,
) -> DispatcherView:
    return DispatcherView(
        stats=stats,
        reporter=reporter,
        breakers=lambda: breakers or {},
        subscriptions=lambda: listed or [],
    )


def deliveries(samples: Samples, subscription: str, outcome: str) -> float | None:
    labels = (("outcome", outcome), ("subscription", subscription))
    return samples.get(("wafleet_dispatcher_deliveries_total", labels))


def per_subscription(samples: Samples, name: str, subscription: str) -> float | None:
    return samples.get((name, (("subscription", subscription),)))


async def test_the_collector_reads_stats_reports_and_breakers_at_scrape_time() -> None:
    stats = DispatcherStats()
    reporter = MetricsReporter(Recorder())
    breakers: dict[str, Breaker] = {}
    listed: list[str] = ["shop/crm"]
    view = DispatcherView(stats, reporter, lambda: breakers, lambda: listed)
    registry = dispatcher_registry(view, process=False)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"wafleet_dispatcher_{name}", labels)

    assert value("deliveries_total", subscription="shop/crm", outcome="delivered") == 0
    assert value("outcomes_total", outcome="postponed") == 0
    assert value("breaker_open", subscription="shop/crm") == 0

    crm = subscriber()
    stats.count("delivered")
    stats.count("postponed")
    stats.count("postponed")
    await reporter.delivered(crm, job(crm), 204)
    breakers["shop/crm"] = Breaker(5, open_until=1000.0, opened=1)
    listed.append("shop/new")

    assert value("deliveries_total", subscription="shop/crm", outcome="delivered") == 1
    assert value("outcomes_total", outcome="postponed") == 2
    assert value("breaker_open", subscription="shop/crm") == 1
    assert value("tombstones_total", subscription="shop/new") == 0


async def test_the_families_from_a_hand_built_state() -> None:
    stats = DispatcherStats(
        Counter(
            {
                "delivered": 7, "retry": 2, "exhausted": 1, "failed": 1, "tombstone": 1,
                "tombstoned": 1, "postponed": 4, "dropped": 3, "not-an-event": 1,
            }
        )
    )  # fmt: skip
    reporter = MetricsReporter(Recorder())
    crm, gone, dead = subscriber("crm"), subscriber("gone"), subscriber("dead", "ops")
    for _ in range(7):
        await reporter.delivered(crm, job(crm), 204)
    await reporter.failed(crm, job(crm), Decision(Verdict.RETRY, 5.0, "HTTP 503"), 1, 503)
    await reporter.failed(dead, job(dead), Decision(Verdict.RETRY, 5.0, "timeout"), 1)
    await reporter.failed(dead, job(dead), Decision(Verdict.EXHAUSTED, None, "timeout"), 2)
    await reporter.failed(crm, job(crm), Decision(Verdict.FAILED, None, "HTTP 400"), 2, 400)
    await reporter.tombstoned(gone, "HTTP 410: the subscriber is gone", 1)
    breakers = {"ops/dead": Breaker(5, open_until=1000.0, opened=1), "shop/crm": Breaker(1)}
    view = view_of(stats, reporter, breakers, listed=["shop/crm", "shop/gone", "shop/quiet"])

    text, samples = scrape(view)

    expected_deliveries = {
        ("shop/crm", "delivered"): 7,
        ("shop/crm", "retrying"): 1,
        ("shop/crm", "given_up"): 1,
        ("ops/dead", "retrying"): 1,
        ("ops/dead", "given_up"): 1,
        ("shop/gone", "tombstoned"): 1,
    }
    for sub in ("shop/crm", "shop/gone", "shop/quiet", "ops/dead"):
        for outcome in DELIVERY_OUTCOMES:
            assert deliveries(samples, sub, outcome) == expected_deliveries.get((sub, outcome), 0)
    tombstones = "wafleet_dispatcher_tombstones_total"
    assert per_subscription(samples, tombstones, "shop/gone") == 1
    assert per_subscription(samples, tombstones, "shop/crm") == 0
    assert per_subscription(samples, tombstones, "shop/quiet") == 0
    breaker = "wafleet_dispatcher_breaker_open"
    assert per_subscription(samples, breaker, "ops/dead") == 1
    assert per_subscription(samples, breaker, "shop/crm") == 0
    assert per_subscription(samples, breaker, "shop/quiet") == 0
    outcomes = {
        dict(labels)["outcome"]: value
        for (name, labels), value in samples.items()
        if name == "wafleet_dispatcher_outcomes_total"
    }
    assert outcomes == {**dict.fromkeys(STAT_OUTCOMES, 0), **stats.outcomes}

    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert families == {
        "wafleet_dispatcher_deliveries": "counter",
        "wafleet_dispatcher_tombstones": "counter",
        "wafleet_dispatcher_outcomes": "counter",
        "wafleet_dispatcher_breaker_open": "gauge",
    }


async def test_labels_are_subscriptions_and_outcomes_never_ids_urls_reasons_or_secrets() -> None:
    crm = subscriber()
    reporter = MetricsReporter(Recorder())
    await reporter.failed(crm, job(crm), Decision(Verdict.RETRY, 5.0, f"HTTP 500: {SECRET}"), 1)
    await reporter.tombstoned(crm, f"HTTP 410: {SECRET}", 2)
    text, samples = scrape(view_of(DispatcherStats(), reporter, listed=[crm.key]))
    for never in (SECRET, WEBHOOK_ID, "hooks.example.com", "hooks-secret", "HTTP 410"):
        assert never not in text
    label_names = {name for _, labels in samples for name, _ in labels}
    assert label_names == {"subscription", "outcome"}


def test_the_process_collectors_come_along_and_no_session_metrics() -> None:
    text, _ = scrape(view_of(DispatcherStats(), MetricsReporter(Recorder())), process=True)
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "python_info" in names
    assert not [name for name in names if name.startswith("wafleet_runner_")]
