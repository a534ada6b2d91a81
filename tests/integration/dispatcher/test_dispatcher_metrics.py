"""A running dispatcher's /metrics, scraped over HTTP as Prometheus would.

The real loop (`Dispatcher`) with the events and retry queues and the failure
windows on the moto server, real local HTTP subscribers, and its metrics served
by `wafleet-runner dispatcher`'s own wiring (`main.serve_endpoints` on the
settings' `metrics_port`, a `MetricsReporter` in front of the reporter, as
`main.run` builds them). The subscriptions come from a fixed in-memory directory:
which they are is not under test here, and the real `KubeDirectory` is covered
by test_dispatcher.py.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import boto3
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from session_runner.contract.dispatcher_settings import DispatcherSettings
from session_runner.dispatcher.attempt import client_session
from session_runner.dispatcher.failures import FailureStore
from session_runner.dispatcher.main import serve_endpoints
from session_runner.dispatcher.metrics import DELIVERY_OUTCOMES, STAT_OUTCOMES, MetricsReporter
from session_runner.dispatcher.subscriber import Subscriber
from session_runner.dispatcher.url_safety import parse_networks
from session_runner.dispatcher.worker import Dispatcher, DispatcherConfig, LogReporter
from session_runner.dynamodb import client_config
from session_runner.events.event import Event, EventType, Source
from session_runner.sender.ledger import ensure_table
from session_runner.sender.queue import PoolQueue
from tests.harness.devserver import free_port
from tests.harness.local_http import serving
from tests.harness.moto_server import AwsEndpoint, queued_messages

SECRET = "whsec_" + base64.b64encode(b"metrics-test-signing-key-32byte!").decode()
TABLE = "wafleet-outbound-ledger"
NAMESPACE = "shop"
LOCAL = parse_networks("127.0.0.1/32")
EVENTS = 5


@dataclass
class Subscribers:
    """Local HTTP subscribers: each path answers its statuses in turn, the last for good."""

    base_url: str = ""
    answers: dict[str, list[int]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}"


@pytest.fixture
async def subscribers() -> AsyncIterator[Subscribers]:
    state = Subscribers()

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        statuses = state.answers.get(request.match_info["path"]) or [204]
        return web.Response(status=statuses.pop(0) if len(statuses) > 1 else statuses[0])

    async with serving(handle) as state.base_url:
        yield state


class FixedDirectory:
    """The `worker.Directory` of a fixed set of subscriptions, all signed with SECRET."""

    def __init__(self, subscribers: list[Subscriber]) -> None:
        self._by_key = {subscriber.key: subscriber for subscriber in subscribers}

    def subscribers(self) -> list[Subscriber]:
        return list(self._by_key.values())

    def get(self, key: str) -> Subscriber | None:
        return self._by_key.get(key)

    async def secrets(self, subscriber: Subscriber) -> list[str]:
        return [SECRET]


def subscription(name: str, url: str, schedule_s: tuple[int, ...] = (1,)) -> Subscriber:
    return Subscriber(
        namespace=NAMESPACE,
        name=name,
        generation=1,
        url=url,
        event_types=frozenset({"message.received"}),
        accounts=frozenset(),
        secret_name="hooks-secret",
        secret_key="secret",
        schedule_s=schedule_s,
        jitter_ratio=0.0,
    )


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str) -> tuple[str, Samples]:
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = await answer.text()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


def queued(sqs: Any, urls: tuple[str, ...]) -> int:
    return queued_messages(sqs, urls)


async def until(done: Callable[[], bool], limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while not done():
        assert time.monotonic() < deadline, "not done in time"
        await asyncio.sleep(0.1)


async def test_a_running_dispatcher_serves_what_came_of_its_deliveries(
    aws: AwsEndpoint, subscribers: Subscribers
) -> None:
    sqs = aws.client("sqs")
    events_url = sqs.create_queue(QueueName="events")["QueueUrl"]
    retries_url = sqs.create_queue(QueueName="retries")["QueueUrl"]
    dynamodb = boto3.client("dynamodb", config=client_config(5.0), **aws.server.client_kwargs())
    ensure_table(dynamodb, TABLE)
    subscribers.answers.update(flaky=[503, 204], gone=[410], bad=[400], down=[503])
    directory = FixedDirectory(
        [
            subscription("crm", subscribers.url("crm")),
            subscription("flaky", subscribers.url("flaky")),
            subscription("gone", subscribers.url("gone")),
            subscription("bad", subscribers.url("bad")),
            subscription("down", subscribers.url("down"), schedule_s=()),  # no retries
        ]
    )
    reporter = MetricsReporter(LogReporter())
    stop = asyncio.Event()
    async with client_session(LOCAL) as http:
        dispatcher = Dispatcher(
            DispatcherConfig(allowed=LOCAL, receive_wait_s=1),
            PoolQueue(aws.client("sqs"), events_url),
            PoolQueue(aws.client("sqs"), retries_url),
            directory,
            FailureStore(dynamodb, TABLE),
            http,
            reporter=reporter,
        )
        settings = DispatcherSettings(health_port=0, metrics_port=free_port())
        servers: list[web.AppRunner] = []
        await serve_endpoints(settings, dispatcher, reporter, directory, servers)
        assert len(servers) == 1  # /metrics only: the probes are off
        metrics_url = f"http://127.0.0.1:{settings.metrics_port}/metrics"

        def settled(reports: int) -> Callable[[], bool]:
            def done() -> bool:
                if sum(reporter.deliveries.values()) != reports:
                    return False
                return queued(sqs, (events_url, retries_url)) == 0

            return done

        running = asyncio.create_task(dispatcher.run(stop))
        try:
            _, before = await scrape(metrics_url)
            ids = []
            for n in range(EVENTS):  # one at a time: down's fifth 503 in a row opens its breaker
                event = Event.create(
                    type=EventType.INBOUND,
                    source=Source.SESSION,
                    vendor_message_id=f"3EB0{n:08d}",
                    at=datetime(2026, 12, 6, tzinfo=UTC),
                    namespace=NAMESPACE,
                    account="sales",
                    text=f"hello {n}",
                )
                ids.append(event.id)
                sqs.send_message(QueueUrl=events_url, MessageBody=event.to_json())
                # the first event: 5 attempts and flaky's retry; then 4 (gone is switched off)
                await until(settled(6 + 4 * n))
            text, after = await scrape(metrics_url)
        finally:
            stop.set()
            await running
            for server in servers:
                await server.cleanup()

    def deliveries(samples: Samples, name: str, outcome: str) -> float | None:
        labels = (("outcome", outcome), ("subscription", f"{NAMESPACE}/{name}"))
        return samples.get(("wafleet_dispatcher_deliveries_total", labels))

    def of(samples: Samples, family: str, name: str) -> float | None:
        labels = (("subscription", f"{NAMESPACE}/{name}"),)
        return samples.get((f"wafleet_dispatcher_{family}", labels))

    names = ("crm", "flaky", "gone", "bad", "down")
    # every subscription's series are there from the first scrape, at 0
    for name in names:
        assert [deliveries(before, name, outcome) for outcome in DELIVERY_OUTCOMES] == [0] * 4
        assert of(before, "tombstones_total", name) == 0
        assert of(before, "breaker_open", name) == 0

    expected = {
        ("crm", "delivered"): EVENTS,
        ("flaky", "retrying"): 1,
        ("flaky", "delivered"): EVENTS,
        ("gone", "tombstoned"): 1,
        ("bad", "given_up"): EVENTS,
        ("down", "given_up"): EVENTS,
    }
    for name in names:
        for outcome in DELIVERY_OUTCOMES:
            count = expected.get((name, outcome), 0)
            assert deliveries(after, name, outcome) == count, (name, outcome)
    assert {name: of(after, "tombstones_total", name) for name in names} == {
        "crm": 0,
        "flaky": 0,
        "gone": 1,
        "bad": 0,
        "down": 0,
    }
    assert {name: of(after, "breaker_open", name) for name in names} == {
        "crm": 0,
        "flaky": 0,
        "gone": 0,
        "bad": 0,
        "down": 1,  # five 503s in a row
    }
    outcomes = {
        dict(labels)["outcome"]: value
        for (family, labels), value in after.items()
        if family == "wafleet_dispatcher_outcomes_total"
    }
    assert outcomes == {
        **dict.fromkeys(STAT_OUTCOMES, 0),
        "delivered": 2 * EVENTS,
        "retry": 1,
        "tombstone": 1,
        "tombstoned": 1,
        "failed": EVENTS,
        "exhausted": EVENTS,
        "dropped": EVENTS - 1,
    }
    assert "process_resident_memory_bytes" in text
    for never in (SECRET, subscribers.base_url, "127.0.0.1", *ids):
        assert never not in text
