"""A session pool's queue, consumed by the account's runner: only the ready leader sends.

Real parts: two `SessionRunner`s with their elector and the local engine (which
logs every message it hands to the peer, with its idempotency key, in a file),
SQS and DynamoDB on the moto server for the queue and the ledger. The Lease
lives in the in-memory store (held to the same contract suite as Kubernetes);
the account's annotations come from a probe the test controls, as the
operator's annotation would (the operator half runs on the real API server in
tests/integration/outbound/test_sender_pool_operator.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from session_runner.contract.session_outbound import OUTBOUND_ANNOTATION, SessionOutboundWiring
from session_runner.contract.settings import RunnerSettings
from session_runner.events.delivery import DeliveryLedger
from session_runner.events.event import Event
from session_runner.events.pipeline import ensure_events_pipeline, pipeline_names
from session_runner.sender.ledger import Ledger, client_config, ensure_table
from session_runner.sender.ledger_decision import LedgerEntry, LedgerState
from session_runner.sender.message import OutboundMessage
from session_runner.session.engines.local import LocalEngine, LocalEngineOptions
from session_runner.session.lease.memory import InMemoryLeaseBackend, InMemoryLeaseStore
from session_runner.session.report import RunnerFacts, WriteDecision
from session_runner.session.runner import SessionRunner
from tests.harness.devserver import DEV_ACCESS_KEY_ID, DEV_REGION, DEV_SECRET_ACCESS_KEY
from tests.harness.moto_server import AwsEndpoint

LEASE = "waa-alice"
TABLE = "wafleet-outbound-ledger"
TO = "+14155550123"


@dataclass
class Reports:
    phases: list[str] = field(default_factory=list)

    async def report(self, facts: RunnerFacts, *, refresh: bool = False) -> WriteDecision:
        self.phases.append(str(facts.phase))
        return WriteDecision.WRITE


@dataclass
class Account:
    """The pool's queues and ledger on moto, the account's annotations, and its runners."""

    aws: AwsEndpoint
    tmp: Path
    annotations: dict[str, str] = field(default_factory=dict)
    store: InMemoryLeaseStore = field(default_factory=InMemoryLeaseStore)
    engines: dict[str, LocalEngine] = field(default_factory=dict)
    polls: int = 0

    def __post_init__(self) -> None:
        self.sqs = self.aws.client("sqs")
        self.dlq_url = self.sqs.create_queue(QueueName="alice-dlq")["QueueUrl"]
        self.url = self.sqs.create_queue(QueueName="alice")["QueueUrl"]
        dynamodb = boto3.client(
            "dynamodb", config=client_config(5.0), **self.aws.server.client_kwargs()
        )
        ensure_table(dynamodb, TABLE)
        self.ledger = Ledger(dynamodb, TABLE)
        self.sent_log = self.tmp / "sent.jsonl"
        self.wiring = SessionOutboundWiring(
            pool="alice-session",
            queue_url=self.url,
            dead_letter_queue_url=self.dlq_url,
            ledger_table=TABLE,
            aws_region=DEV_REGION,
            aws_endpoint_url=self.aws.endpoint_url,
            rate_limit_per_second=100,
            concurrency=4,
            max_receive_count=5,
            visibility_timeout_seconds=30,
            claim_seconds=10,
        )

    def wire(self) -> None:
        self.annotations[OUTBOUND_ANNOTATION] = self.wiring.to_annotation()

    async def probe(self) -> dict[str, str]:
        self.polls += 1
        return dict(self.annotations)

    def runner(self, pod: str, *, auto_login: bool = True) -> SessionRunner:
        settings = RunnerSettings(
            account_name="alice",
            phone_number="+15550100001",
            engine="local",
            pod_name=pod,
            session_dir=self.tmp / pod / "session",
            lease_duration_seconds=0.6,
            lease_renew_deadline_seconds=0.4,
            lease_retry_period_seconds=0.1,
            # Half of it lets the queue consumer settle: more than its 5 s long poll, so
            # no receive in progress is abandoned (its messages would hide for 30 s).
            stop_timeout_seconds=15,
        )

        def engine() -> LocalEngine:
            self.engines[pod] = LocalEngine(
                LocalEngineOptions(
                    identity=pod,
                    auto_login_after_s=0 if auto_login else None,
                    send_latency_s=0.02,
                    sent_log=self.sent_log,
                )
            )
            return self.engines[pod]

        return SessionRunner(
            settings,
            InMemoryLeaseBackend(self.store, LEASE),
            Reports(),
            engine,
            annotations_probe=self.probe,
        )

    def publish(self, ids: list[str]) -> None:
        for message_id in ids:
            body = OutboundMessage(id=message_id, target="alice", to=TO, text=f"hi {message_id}")
            self.sqs.send_message(QueueUrl=self.url, MessageBody=body.to_json())

    def sent(self) -> list[dict[str, Any]]:
        if not self.sent_log.exists():
            return []
        return [json.loads(line) for line in self.sent_log.read_text().splitlines()]

    async def entries(self, ids: list[str]) -> list[LedgerEntry | None]:
        return [await self.ledger.get(message_id) for message_id in ids]

    async def all_sent(self, ids: list[str]) -> bool:
        return all(e is not None and e.state is LedgerState.SENT for e in await self.entries(ids))

    def waiting(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])


@pytest.fixture
def account(aws: AwsEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Account:
    # The runner reaches AWS through boto3's credential chain, as in a pod.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEV_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEV_SECRET_ACCESS_KEY)
    return Account(aws, tmp_path)


@pytest.fixture
async def running() -> AsyncIterator[Callable[[SessionRunner], asyncio.Event]]:
    """Start runners; every one still running is stopped (and awaited) at the end."""
    started: list[tuple[asyncio.Event, asyncio.Task[int]]] = []

    def start(runner: SessionRunner) -> asyncio.Event:
        stop = asyncio.Event()
        started.append((stop, asyncio.create_task(runner.run(stop))))
        return stop

    yield start
    for stop, _ in started:
        stop.set()
    await asyncio.wait_for(asyncio.gather(*(task for _, task in started)), 30)


async def until(check: Callable[[], Any], what: str, limit: float = 30.0) -> None:
    """Poll `check` (sync or async); a hang fails after `limit` seconds."""
    try:
        async with asyncio.timeout(limit):
            while True:
                result = check()
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def test_only_the_leader_sends_and_its_successor_never_sends_a_message_again(
    account: Account, running: Callable[[SessionRunner], asyncio.Event]
) -> None:
    account.wire()
    first, second = account.runner("waa-alice-0"), account.runner("waa-alice-1")
    stop_first = running(first)
    await until(lambda: first.ready(), "the first runner leads and is connected")
    running(second)  # standby: it competes, and must never consume

    batch = [f"order-{n}" for n in range(30)]
    account.publish(batch)
    await until(lambda: account.all_sent(batch), "the first batch sent")
    first_token = first.elector.fencing_token
    assert first_token is not None
    sent = account.sent()
    assert sorted(line["key"] for line in sent) == sorted(batch)  # each once
    assert {line["identity"] for line in sent} == {"waa-alice-0"}  # the standby sent nothing
    for entry in await account.entries(batch):
        assert entry is not None
        assert entry.token == first_token  # the ledger write carried the lease's token
        assert entry.vendor_message_id is not None
        assert entry.vendor_message_id.startswith("3EB0")  # WhatsApp's id, from the engine

    stop_first.set()  # the leader steps down (a rollout): the standby takes over
    await until(lambda: second.ready(), "the second runner leads and is connected")
    second_token = second.elector.fencing_token
    assert second_token is not None
    assert second_token > first_token

    later = [f"order-{n}" for n in range(30, 50)]
    account.publish(later)
    account.publish(batch[:10])  # a producer retried: duplicates of sent messages
    await until(lambda: account.all_sent(later), "the second batch sent by the new leader")
    await until(lambda: account.waiting() == 0, "the duplicates drained")
    sent = account.sent()
    keys = [line["key"] for line in sent]
    assert len(keys) == len(set(keys)) == 50  # nothing went out twice
    assert {line["key"] for line in sent if line["identity"] == "waa-alice-1"} == set(later)
    for entry in await account.entries(later):
        assert entry is not None
        assert entry.token == second_token


async def test_messages_wait_in_the_queue_while_the_account_is_not_logged_in(
    account: Account, running: Callable[[SessionRunner], asyncio.Event]
) -> None:
    account.wire()
    runner = account.runner("waa-alice-0", auto_login=False)
    running(runner)
    await until(lambda: "waa-alice-0" in account.engines, "the engine started")
    await until(lambda: runner.elector.fencing_token is not None, "the runner leads")
    ids = [f"wait-{n}" for n in range(5)]
    account.publish(ids)
    polls = account.polls
    await until(lambda: account.polls >= polls + 10, "ten more polls of the account")
    # Leading but awaiting login: nothing received, so no receive count is used up.
    assert account.waiting() == 5
    assert await account.entries(ids) == [None] * 5
    assert account.sent() == []

    account.engines["waa-alice-0"].approve_login()  # the user scans the QR code
    await until(lambda: account.all_sent(ids), "sent once the account is connected")
    assert sorted(line["key"] for line in account.sent()) == sorted(ids)


async def test_without_the_annotation_the_runner_consumes_nothing_and_stops_when_it_goes(
    account: Account, running: Callable[[SessionRunner], asyncio.Event]
) -> None:
    runner = account.runner("waa-alice-0")
    running(runner)
    await until(lambda: runner.ready(), "connected")
    account.publish(["early"])
    polls = account.polls
    await until(lambda: account.polls >= polls + 10, "ten polls without a wiring")
    assert account.waiting() == 1
    assert account.sent() == []

    account.wire()  # the operator wired a session pool to the account
    await until(lambda: account.all_sent(["early"]), "sent once wired")

    assert runner.consuming_outbound()
    del account.annotations[OUTBOUND_ANNOTATION]  # the pool was deleted
    await until(lambda: not runner.consuming_outbound(), "the consumer ended")
    account.publish(["late"])
    polls = account.polls
    await until(lambda: account.polls >= polls + 10, "ten polls more")
    assert account.waiting() == 1
    assert [line["key"] for line in account.sent()] == ["early"]


async def test_the_engines_acks_become_events_with_our_id_and_the_ledger_follows_them(
    account: Account, running: Callable[[SessionRunner], asyncio.Event]
) -> None:
    names = pipeline_names("wafleet")
    pipeline = ensure_events_pipeline(
        account.aws.client("sns"), account.sqs, names.topic, names.queue
    )
    account.wiring = account.wiring.model_copy(update={"events_topic_arn": pipeline.topic_arn})
    account.wire()
    runner = account.runner("waa-alice-0")
    running(runner)
    await until(lambda: runner.ready(), "connected")
    account.publish(["order-7"])
    deliveries = DeliveryLedger(account.ledger.client, TABLE)
    # The local engine acks sent, then delivered, then read (its defaults: 0.5 s, 1 s, 3 s).
    await until(lambda: _delivery(deliveries, "order-7", "read"), "the ledger follows to read", 60)
    events: list[Event] = []

    def drained() -> bool:
        got = account.sqs.receive_message(
            QueueUrl=pipeline.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        events.extend(Event.from_json(m["Body"]) for m in got.get("Messages", []))
        return {e.type.value for e in events} >= {"message.sent", "message.read"}

    await until(drained, "the events on the dispatcher's queue")
    mine = [e for e in events if e.message_id == "order-7"]
    assert [e.type.value for e in mine][:1] == ["message.sent"]
    assert {e.type.value for e in mine} == {
        "message.sent",
        "message.delivered",
        "message.read",
    }
    assert len({e.id for e in mine}) == len(mine)  # one event per status, each its own id
    entry = await account.ledger.get("order-7")
    assert entry is not None
    assert {e.vendor_message_id for e in mine} == {entry.vendor_message_id}
    assert {e.account for e in mine} == {"alice"}


async def _delivery(deliveries: DeliveryLedger, message_id: str, status: str) -> bool:
    recorded = await deliveries.read(message_id)
    return recorded.status is not None and recorded.status.value == status
