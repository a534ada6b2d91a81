"""The dispatcher end to end: WebhookSubscriptions on the real API server, the events and
retry queues and the failure windows on the moto server, real local HTTP subscribers, and
every delivery verified with the reference Standard Webhooks library."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from session_runner.dispatcher.attempt import client_session
from session_runner.dispatcher.directory import KubeDirectory
from session_runner.dispatcher.failures import FailureStore
from session_runner.dispatcher.jobs import DeliveryJob, WaitingBatch, bundled
from session_runner.dispatcher.retry_decision import Decision
from session_runner.dispatcher.subscriber import Subscriber
from session_runner.dispatcher.url_safety import parse_networks
from session_runner.dispatcher.worker import Dispatcher, DispatcherConfig
from session_runner.events.event import Event, EventType, Source
from session_runner.kube.client import KubeClient
from session_runner.kube.connection import from_kubeconfig
from session_runner.sender.ledger import client_config, ensure_table
from session_runner.sender.queue import PoolQueue
from tests.harness.kube import KubeApi
from tests.harness.local_http import serving
from tests.harness.moto_server import AwsEndpoint, queued_messages
from tests.integration.conftest import Cluster, secret

SECRET = "whsec_" + base64.b64encode(b"dispatcher-test-signing-key-32b!").decode()
TABLE = "wafleet-outbound-ledger"
AT = datetime(2026, 12, 6, tzinfo=UTC)


@dataclass
class Subscribers:
    """Local HTTP subscribers: each path answers as its test says and keeps what it got."""

    base_url: str = ""
    answers: dict[str, list[int]] = field(default_factory=dict)  # path → statuses, in turn
    received: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)
    hangs: set[str] = field(default_factory=set)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    def got(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return self.received.get(path, [])


@pytest.fixture
async def subscribers() -> AsyncIterator[Subscribers]:
    state = Subscribers()

    async def handle(request: web.Request) -> web.Response:
        path = request.match_info["path"]
        state.received.setdefault(path, []).append((dict(request.headers), await request.read()))
        if path in state.hangs:
            await asyncio.sleep(30)
        statuses = state.answers.get(path) or [204]
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        return web.Response(status=status)

    async with serving(handle) as state.base_url:
        yield state


@dataclass
class Heard:
    """A Reporter that keeps what it is told (the status writer's seat)."""

    delivered: list[tuple[str, str, int]] = field(default_factory=list)
    failed: list[tuple[str, int, str, int]] = field(default_factory=list)
    tombstoned: list[tuple[str, str, int]] = field(default_factory=list)


class HeardReporter:
    def __init__(self, heard: Heard) -> None:
        self.heard = heard

    async def delivered(self, subscriber: Subscriber, job: DeliveryJob, status: int) -> None:
        self.heard.delivered.append((subscriber.name, job.webhook_id, status))

    async def failed(
        self,
        subscriber: Subscriber,
        job: DeliveryJob,
        decision: Decision,
        failures_24h: int,
        status: int | None = None,
    ) -> None:
        self.heard.failed.append((subscriber.name, job.attempt, decision.reason, failures_24h))

    async def tombstoned(self, subscriber: Subscriber, reason: str, failures_24h: int) -> None:
        self.heard.tombstoned.append((subscriber.name, reason, failures_24h))


@dataclass
class Rig:
    cluster: Cluster
    sqs: Any
    events_url: str
    retries_url: str
    directory: KubeDirectory
    dispatcher: Dispatcher
    heard: Heard
    subscribers: Subscribers

    def subscribe(self, name: str, path: str, **spec: Any) -> None:
        body = {
            "apiVersion": "wafleet.io/v1alpha1",
            "kind": "WebhookSubscription",
            "metadata": {"name": name},
            "spec": {
                "url": self.subscribers.url(path),
                "eventTypes": ["message.received", "message.status"],
                "signingSecret": {"name": "hooks-secret"},
                "retry": {"schedule": [1, 1, 1], "jitterRatio": 0.0},
                **spec,
            },
        }
        self.cluster.custom.create_namespaced_custom_object(
            "wafleet.io", "v1alpha1", self.cluster.namespace, "webhooksubscriptions", body
        )

    def event(
        self,
        vendor_message_id: str,
        text: str,
        kind: EventType = EventType.INBOUND,
        account: str = "sales",
    ) -> Event:
        return Event.create(
            type=kind,
            source=Source.SESSION,
            vendor_message_id=vendor_message_id,
            at=AT,
            namespace=self.cluster.namespace,
            account=account,
            text=text,
        )

    def publish(self, n: int, kind: EventType = EventType.INBOUND, account: str = "sales") -> Event:
        event = self.event(f"3EB0{n:08d}", f"hello {n}", kind, account)
        self.sqs.send_message(QueueUrl=self.events_url, MessageBody=event.to_json())
        return event

    def waiting(self) -> int:
        return queued_messages(self.sqs, (self.events_url, self.retries_url))


@pytest.fixture
async def rig(
    kube_api: KubeApi, cluster: Cluster, aws: AwsEndpoint, subscribers: Subscribers
) -> AsyncIterator[Rig]:
    kube_api.known_secrets["hooks-secret"] = SECRET.encode()
    with kube_api.http() as http:
        http.post(
            f"/api/v1/namespaces/{kube_api.namespace}/secrets",
            json=secret("hooks-secret", {"secret": SECRET.encode()}),
        ).raise_for_status()
    sqs = aws.client("sqs")
    events_url = sqs.create_queue(QueueName="events", Attributes={"VisibilityTimeout": "30"})[
        "QueueUrl"
    ]
    retries_url = sqs.create_queue(QueueName="retries", Attributes={"VisibilityTimeout": "30"})[
        "QueueUrl"
    ]
    dynamodb = boto3.client("dynamodb", config=client_config(5.0), **aws.server.client_kwargs())
    ensure_table(dynamodb, TABLE)
    heard = Heard()
    async with (
        KubeClient(from_kubeconfig(kube_api.kubeconfig)) as kube,
        client_session(parse_networks("127.0.0.1/32")) as http_session,
    ):
        directory = KubeDirectory(kube, namespaces=[kube_api.namespace], refresh_s=0.5)
        dispatcher = Dispatcher(
            # held deliveries (heldEvents: Replay) looked at every second, not every 900
            DispatcherConfig(allowed=parse_networks("127.0.0.1/32"), receive_wait_s=1, park_s=1.0),
            PoolQueue(aws.client("sqs"), events_url),
            PoolQueue(aws.client("sqs"), retries_url),
            directory,
            FailureStore(dynamodb, TABLE),
            http_session,
            reporter=HeardReporter(heard),
        )
        yield Rig(cluster, sqs, events_url, retries_url, directory, dispatcher, heard, subscribers)


@contextlib.asynccontextmanager
async def running(rig: Rig) -> AsyncIterator[None]:
    """The directory and the dispatcher run while the block does."""
    stop = asyncio.Event()
    await rig.directory.refresh()
    tasks = [
        asyncio.create_task(rig.directory.keep_fresh(stop)),
        asyncio.create_task(rig.dispatcher.run(stop)),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def until(done: Callable[[], bool], limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while not done():
        assert time.monotonic() < deadline, "not done in time"
        await asyncio.sleep(0.2)


async def run_until(rig: Rig, done: Callable[[], bool], limit_s: float = 60) -> None:
    async with running(rig):
        await until(done, limit_s)


def verified(got: list[tuple[dict[str, str], bytes]]) -> list[dict[str, Any]]:
    """Every delivery verified with the reference library (raises if one is not ours)."""
    return [Webhook(SECRET).verify(body, headers) for headers, body in got]


async def test_an_event_reaches_every_subscriber_that_wants_it_signed(rig: Rig) -> None:
    rig.subscribe("crm", "crm")
    rig.subscribe("support", "support", accounts=["support"])
    rig.subscribe("statuses", "statuses", eventTypes=["message.status"])
    event = rig.publish(1)
    await run_until(rig, lambda: len(rig.heard.delivered) >= 1 and rig.waiting() == 0)

    [delivered] = verified(rig.subscribers.got("crm"))
    assert delivered["id"] == event.id
    assert delivered["text"] == "hello 1"
    [(headers, _)] = rig.subscribers.got("crm")
    assert headers["webhook-id"] == event.id
    assert rig.subscribers.got("support") == []  # another account's
    assert rig.subscribers.got("statuses") == []  # not an event type it asked for
    assert rig.heard.delivered == [("crm", event.id, 204)]


async def test_a_failing_subscriber_gets_the_same_delivery_again_until_it_takes_it(
    rig: Rig,
) -> None:
    rig.subscribe("crm", "crm")
    rig.subscribers.answers["crm"] = [503, 500, 204]
    event = rig.publish(1)
    await run_until(rig, lambda: len(rig.heard.delivered) == 1 and rig.waiting() == 0)

    got = rig.subscribers.got("crm")
    assert [b["id"] for b in verified(got)] == [event.id] * 3
    assert len({headers["webhook-id"] for headers, _ in got}) == 1
    assert len({body for _, body in got}) == 1  # the same bytes every attempt
    assert [(name, attempt) for name, attempt, _, _ in rig.heard.failed] == [
        ("crm", 1),
        ("crm", 2),
    ]


async def test_gone_is_tombstoned_at_once_and_the_others_are_unaffected(rig: Rig) -> None:
    rig.subscribe("gone", "gone")
    rig.subscribe("crm", "crm")
    rig.subscribers.answers["gone"] = [410]
    async with running(rig):
        rig.publish(1)
        await until(lambda: len(rig.heard.tombstoned) == 1)
        rig.publish(2)
        rig.publish(3)
        await until(lambda: len(rig.heard.delivered) == 3 and rig.waiting() == 0)

    assert len(rig.subscribers.got("gone")) == 1  # nothing after the 410
    assert [(name, reason) for name, reason, _ in rig.heard.tombstoned] == [
        ("gone", "HTTP 410: the subscriber is gone")
    ]
    assert sorted(e for _, e, _ in rig.heard.delivered) == sorted(
        verified_ids(rig.subscribers.got("crm"))
    )


async def test_events_held_while_tombstoned_are_replayed_on_resurrection_or_dropped(
    rig: Rig,
) -> None:
    """Two subscribers answer 410 once, then 204: one set to Replay, one to Drop (the
    default). Both are tombstoned by the first event; the next two wait for the one and are
    dropped for the other; a spec change resurrects both."""
    rig.subscribe("replaying", "replaying", tombstone={"heldEvents": "Replay"})
    rig.subscribe("dropping", "dropping")
    for path in ("replaying", "dropping"):
        rig.subscribers.answers[path] = [410, 204]
    async with running(rig):
        first = rig.publish(1)
        await until(lambda: len(rig.heard.tombstoned) == 2)
        later = [rig.publish(2), rig.publish(3)]
        await until(lambda: rig.dispatcher.stats.outcomes["dropped"] >= 2)
        await until(lambda: rig.dispatcher.stats.outcomes["held"] >= 6)  # each looked at again
        assert len(rig.subscribers.got("replaying")) == 1  # held, not sent
        for name in ("replaying", "dropping"):  # any spec change is a new generation
            rig.cluster.custom.patch_namespaced_custom_object(
                "wafleet.io",
                "v1alpha1",
                rig.cluster.namespace,
                "webhooksubscriptions",
                name,
                {"spec": {"timeoutSeconds": 6}},
            )
        await until(lambda: len(rig.subscribers.got("replaying")) >= 4 and rig.waiting() == 0)
        fourth = rig.publish(4)
        await until(lambda: len(rig.subscribers.got("dropping")) == 2 and rig.waiting() == 0)

    replayed = verified_ids(rig.subscribers.got("replaying"))
    assert replayed[0] == first.id  # the 410
    assert sorted(replayed[1:4]) == sorted([first.id, *(e.id for e in later)])
    # Drop: the events while it was off never reach it; the one after does
    assert verified_ids(rig.subscribers.got("dropping")) == [first.id, fourth.id]


def verified_ids(got: list[tuple[dict[str, str], bytes]]) -> list[str]:
    return [str(b["id"]) for b in verified(got)]


async def test_the_21st_failure_in_a_day_tombstones_exactly_then(rig: Rig) -> None:
    """400s are not retried: each event fails once; the limit is 20. Events go one at a
    time (attempts already in flight when a tombstone falls still finish)."""
    rig.subscribe("strict", "strict", tombstone={"failuresIn24h": 20})
    rig.subscribers.answers["strict"] = [400]
    async with running(rig):
        for n in range(22):
            rig.publish(n)
            await until(lambda: rig.waiting() == 0)

    assert len(rig.subscribers.got("strict")) == 21  # the 22nd was never attempted
    [(name, reason, failures)] = rig.heard.tombstoned
    assert (name, failures) == ("strict", 21)
    assert reason.startswith("21 failed attempts in 24 hours, the last: HTTP 400")
    assert [f for _, _, _, f in rig.heard.failed] == list(range(1, 21))


async def test_a_dead_subscriber_stops_being_tried_while_its_breaker_is_open(
    rig: Rig,
) -> None:
    rig.subscribe("dead", "dead", timeoutSeconds=0.5, retry={"schedule": [60]})
    rig.subscribe("crm", "crm")
    rig.subscribers.hangs.add("dead")
    async with running(rig):
        for n in range(5):  # five timeouts in a row, one event at a time
            rig.publish(n)
            await until(lambda n=n: len(rig.heard.failed) == n + 1)
        for n in range(5, 12):
            rig.publish(n)
        await until(lambda: len(rig.heard.delivered) == 12)

    # the breaker opened at the fifth: the other seven waited on the retry queue, untried
    assert len(rig.subscribers.got("dead")) == 5
    assert rig.dispatcher.stats.outcomes["postponed"] == 7
    assert len(rig.subscribers.got("crm")) == 12
    # twelve deliveries wait: the five retries, put one by one as each timed out, and the
    # seven held back together, which share messages (a message per event was twelve)
    assert queued_messages(rig.sqs, [rig.retries_url]) <= 8


async def test_retries_coming_due_one_by_one_are_received_ten_a_call(rig: Rig) -> None:
    """Held-back deliveries come due spread out (a breaker reopening): the retry loop pauses
    after a short receive, so they come back together, not one receive each."""
    rig.subscribe("crm", "crm")
    receives: list[int] = []
    rig.dispatcher.retries.sqs.meta.events.register(
        "after-call.sqs.ReceiveMessage",
        lambda parsed, **_: receives.append(len(parsed.get("Messages", []))),
    )
    async with running(rig):
        await until(lambda: rig.directory.get(f"{rig.cluster.namespace}/crm") is not None)
        crm = rig.directory.get(f"{rig.cluster.namespace}/crm")
        assert crm is not None
        for n in range(30):  # one comes due every 0.1 s, for 3 s
            event = rig.event(f"3EB1{n:08d}", f"held {n}")
            job = DeliveryJob(
                webhook_id=event.id,
                namespace=crm.namespace,
                subscription=crm.name,
                generation=crm.generation,
                attempt=1,
                due_at=time.time(),
                body=event.to_json(),
            )
            (message,) = bundled([job], time.time())
            rig.sqs.send_message(QueueUrl=rig.retries_url, MessageBody=message.to_json())
            await asyncio.sleep(0.1)
        await until(lambda: len(rig.heard.delivered) == 30)

    assert len(verified(rig.subscribers.got("crm"))) == 30
    with_messages = [count for count in receives if count]
    assert sum(with_messages) == 30
    # one receive per message or two without the pause; with it, about one a second
    assert len(with_messages) <= 8, receives


async def test_the_retry_side_takes_one_event_a_turn_of_the_loop_across_its_messages(
    rig: Rig,
) -> None:
    """Ten retry messages received together, fifty events each: their handlers take turns,
    one event's deliveries a turn of the loop, so fresh events' deliveries go in between
    (without the turns: ten events' a turn, and ten messages read in one)."""
    gone = [f"gone-{n}" for n in range(3)]  # deleted subscriptions: each delivery dropped
    for batch in range(10):
        jobs = [
            DeliveryJob(
                webhook_id=rig.event(f"3EB2{batch:04d}{n:04d}", f"held {batch}/{n}").id,
                namespace=rig.cluster.namespace,
                subscription=name,
                generation=1,
                attempt=2,
                due_at=time.time(),
                body='{"held": true}',
            )
            for n in range(50)
            for name in gone
        ]
        groups = bundled(jobs, time.time())
        message = WaitingBatch(events=groups)
        rig.sqs.send_message(QueueUrl=rig.retries_url, MessageBody=message.to_json())
    outcomes = rig.dispatcher.stats.outcomes
    per_turn: list[int] = []

    async def count_each_turn() -> None:
        seen = 0
        while outcomes["dropped"] < 1500:
            await asyncio.sleep(0)
            per_turn.append(outcomes["dropped"] - seen)
            seen = outcomes["dropped"]

    async with running(rig):
        await asyncio.wait_for(count_each_turn(), 60)

    assert sum(per_turn) == 1500
    assert max(per_turn) <= len(gone), sorted(per_turn)[-5:]
