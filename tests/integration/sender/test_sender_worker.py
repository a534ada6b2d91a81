"""Sender replicas on real parts: SQS and DynamoDB on the moto server, Twilio's stand-in.

Each test drives `Sender.run` until the ledger says every message is settled,
then asserts on what the vendor stand-in received (counted by our id), the
ledger, the queue and the dead-letter queue.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import boto3
import pytest

from session_runner.sender.ledger import Ledger, client_config, ensure_table
from session_runner.sender.ledger_decision import LedgerState
from session_runner.sender.message import OutboundMessage
from session_runner.sender.queue import REASON_ATTRIBUTE, PoolQueue
from session_runner.sender.ratelimit import PoolRateLimiter
from session_runner.sender.vendors import create_adapter
from session_runner.sender.worker import Sender, SenderConfig
from tests.harness.moto_server import AwsEndpoint
from tests.harness.vendor_standins import Faults, TwilioStandin

TABLE = "wafleet-outbound-ledger"
TO = "+14155550123"


class Pool:
    """One pool's queue, DLQ, ledger table and stand-in vendor, and a way to run replicas."""

    def __init__(self, aws: AwsEndpoint, vendor: TwilioStandin) -> None:
        self.aws = aws
        self.vendor = vendor
        self.sqs = aws.client("sqs")
        dlq = self.sqs.create_queue(QueueName="p-dlq")["QueueUrl"]
        self.dlq_url = dlq
        self.url = self.sqs.create_queue(QueueName="p", Attributes={"VisibilityTimeout": "30"})[
            "QueueUrl"
        ]
        self.dynamodb = self._dynamodb()
        ensure_table(self.dynamodb, TABLE)
        self.ledger = Ledger(self._dynamodb(), TABLE)

    def _dynamodb(self) -> Any:
        return boto3.client(
            "dynamodb", config=client_config(5.0), **self.aws.server.client_kwargs()
        )

    def publish(self, message_id: str, *, to: str = TO, times: int = 1) -> None:
        body = OutboundMessage(id=message_id, target="t", to=to, text=f"hello {message_id}")
        for _ in range(times):
            self.sqs.send_message(QueueUrl=self.url, MessageBody=body.to_json())

    def replica(
        self,
        name: str,
        *,
        rate: float = 50.0,
        claim_s: float = 6.0,
        max_receive_count: int = 5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        visibility_timeout_s: int = 30,
        send_timeout_s: float = 2.0,
    ) -> Sender:
        adapter = create_adapter(
            "twilio",
            self.vendor.credentials(),
            base_url=self.vendor.base_url,
            timeout=aiohttp.ClientTimeout(total=send_timeout_s),
            # where delivery statuses go; it also carries our id, the only place Twilio keeps it
            status_callback="http://127.0.0.1:9/twilio/status",
        )
        sqs = boto3.client("sqs", **self.aws.server.client_kwargs())
        dynamodb = self._dynamodb()
        return Sender(
            SenderConfig(
                identity=name,
                concurrency=8,
                claim_s=claim_s,
                visibility_timeout_s=visibility_timeout_s,
                max_receive_count=max_receive_count,
                sender_number=self.vendor.sender,
                send_timeout_s=send_timeout_s,
                skew_margin_s=0.5,
                receive_wait_s=1,
            ),
            PoolQueue(sqs, self.url, self.dlq_url),
            Ledger(dynamodb, TABLE),
            PoolRateLimiter(dynamodb, TABLE, "ns/p", rate),
            adapter,
            sleep=sleep,
        )

    async def run_until(
        self, replicas: list[Sender], done: Callable[[], Any], limit_s: float = 60.0
    ) -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(r.run(stop)) for r in replicas]
        deadline = time.monotonic() + limit_s
        try:
            while not await done():
                assert time.monotonic() < deadline, "the senders did not settle every message"
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            for replica in replicas:
                await replica.adapter.close()
        # every message a replica took was settled (sent, failed, or handed back)
        assert [r.holding for r in replicas] == [0] * len(replicas)

    def settled(self, ids: list[str]) -> Callable[[], Any]:
        async def check() -> bool:
            entries = [await self.ledger.get(i) for i in ids]
            return all(e is not None and e.terminal for e in entries)

        return check

    def dead_letters(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(
            QueueUrl=self.dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        )
        return list(got.get("Messages", []))

    def waiting(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def pool(aws: AwsEndpoint, twilio_standin: TwilioStandin) -> Pool:
    return Pool(aws, twilio_standin)


async def test_a_sender_woken_late_takes_a_new_slot_and_still_sends_each_message_once(
    pool: Pool,
) -> None:
    """A loaded node: every sleep overruns by 50 ms, past the 10 ms a slot may be missed by."""

    async def oversleep(seconds: float) -> None:
        await asyncio.sleep(seconds + 0.05)

    ids = [f"late-{n}" for n in range(12)]
    for message_id in ids:
        pool.publish(message_id)
    replica = pool.replica("a", rate=5.0, sleep=oversleep)  # 5/s: the limit binds
    await pool.run_until([replica], pool.settled(ids))

    assert replica.stats.late_slots > 0  # slots it woke too late for were given up
    assert pool.vendor.log.sent_twice() == {}
    assert sorted(str(s.our_id) for s in pool.vendor.log.sends) == sorted(ids)


async def test_a_sender_whose_loop_starts_sends_late_gives_their_slots_up_too(
    pool: Pool,
) -> None:
    """A loaded event loop: every turn of it is held up 20 ms by other work, so a send task
    starts at least one turn after its slot was granted, past the 10 ms a slot may be missed
    by, whether it had to sleep for the slot or not (at 1,000/s the slots are free)."""
    loop = asyncio.get_running_loop()
    busy = True

    def hold_the_loop() -> None:
        time.sleep(0.02)
        if busy:
            loop.call_soon(hold_the_loop)

    ids = [f"behind-{n}" for n in range(6)]
    for message_id in ids:
        pool.publish(message_id)
    replica = pool.replica("a", rate=1000.0)
    loop.call_soon(hold_the_loop)
    try:
        await pool.run_until([replica], pool.settled(ids), limit_s=60)
    finally:
        busy = False

    assert replica.stats.late_slots >= len(ids)  # each send's first slot was given up
    assert pool.vendor.log.sent_twice() == {}
    assert sorted(str(s.our_id) for s in pool.vendor.log.sends) == sorted(ids)


async def test_a_send_slower_than_the_visibility_timeout_keeps_its_message_hidden(
    pool: Pool,
) -> None:
    """The vendor takes 5 s to answer, the queue hides a message for 2 s: the sender renews
    the visibility while it waits, so the other replica never receives the message."""
    pool.sqs.set_queue_attributes(QueueUrl=pool.url, Attributes={"VisibilityTimeout": "2"})
    pool.vendor.faults = Faults(delay_s=5.0)
    pool.publish("slow-1")
    sending = pool.replica("a", visibility_timeout_s=2, send_timeout_s=8.0, claim_s=12.0)
    watching = pool.replica("b", visibility_timeout_s=2, send_timeout_s=8.0, claim_s=12.0)
    await pool.run_until([sending, watching], pool.settled(["slow-1"]))

    assert sending.stats.sent + watching.stats.sent == 1
    assert sending.stats.received + watching.stats.received == 1  # never shown again
    assert [s.our_id for s in pool.vendor.log.sends] == ["slow-1"]


async def test_every_message_is_sent_once_even_when_published_three_times(pool: Pool) -> None:
    ids = [f"m-{n}" for n in range(20)]
    for message_id in ids:
        pool.publish(message_id, times=3)

    await pool.run_until([pool.replica("a"), pool.replica("b")], pool.settled(ids))
    # the duplicates that arrived while their message was being sent come back and go
    await pool.run_until([pool.replica("c")], lambda: _async(pool.waiting() == 0))

    assert pool.vendor.log.sent_twice() == {}
    assert sorted(str(s.our_id) for s in pool.vendor.log.sends) == sorted(ids)
    for message_id in ids:
        entry = await pool.ledger.get(message_id)
        assert entry is not None
        assert entry.state is LedgerState.SENT
        assert entry.vendor_message_id


async def test_a_permanent_refusal_is_failed_with_the_vendors_code_and_dead_lettered(
    pool: Pool,
) -> None:
    pool.vendor.faults = Faults(fail_fraction=1.0, fail_code=21211)
    pool.publish("bad-number")

    await pool.run_until([pool.replica("a")], pool.settled(["bad-number"]))

    entry = await pool.ledger.get("bad-number")
    assert entry is not None
    assert entry.state is LedgerState.FAILED
    assert "21211" in (entry.reason or "")
    [dead] = pool.dead_letters()
    assert json.loads(dead["Body"])["id"] == "bad-number"
    assert "21211" in dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"]
    assert pool.vendor.log.count("bad-number") == 0


async def test_a_throttle_pauses_the_pool_and_every_message_still_goes_once(pool: Pool) -> None:
    pool.vendor.faults = Faults(throttle_above=3, rate_window_s=1.0, retry_after_s=1.0)
    ids = [f"t-{n}" for n in range(12)]
    for message_id in ids:
        pool.publish(message_id)

    replica = pool.replica("a", rate=100.0)
    await pool.run_until([replica], pool.settled(ids))

    assert pool.vendor.log.sent_twice() == {}
    assert {s.our_id for s in pool.vendor.log.sends} == set(ids)
    assert replica.stats.retried >= 1  # the throttles happened and were retried
    state = await replica.limiter.state()
    assert state.throttled_until > 0  # and paused the pool


async def test_a_send_whose_answer_was_lost_is_looked_up_not_sent_again(pool: Pool) -> None:
    """The connection drops after Twilio took the message: the outcome is unknown. The
    claim runs out, a replica reclaims it, asks Twilio, finds it, and records SENT."""
    pool.vendor.faults = Faults(drop_fraction=1.0)
    pool.publish("lost-answer")
    first = pool.replica("a", claim_s=3.0)
    await pool.run_until([first], lambda: _async(pool.vendor.log.count("lost-answer") == 1))
    assert first.stats.unknown == 1

    pool.vendor.faults = Faults()
    await pool.run_until(
        [pool.replica("b", claim_s=3.0)], pool.settled(["lost-answer"]), limit_s=90
    )
    entry = await pool.ledger.get("lost-answer")
    assert entry is not None
    assert entry.state is LedgerState.SENT
    assert entry.attempts == 2  # reclaimed once
    assert pool.vendor.log.count("lost-answer") == 1


async def test_a_message_busy_on_its_last_receive_lives_on_in_a_copy(pool: Pool) -> None:
    """A dead replica's claim holds the message on the last receive SQS allows: handed back,
    SQS would dead-letter it without a reason while the ledger says SENDING. The sender puts
    a copy on the queue first; the copy is reclaimed once the claim ran out, and sent once."""
    await pool.ledger.claim("orphan", "killed-replica-0a1b", 3.0)  # its sender died mid-send
    pool.publish("orphan")

    replica = pool.replica("a", claim_s=3.0, max_receive_count=1)  # every receive is the last
    await pool.run_until([replica], pool.settled(["orphan"]), limit_s=60)
    await pool.run_until([pool.replica("b", claim_s=3.0)], lambda: _async(pool.waiting() == 0))

    entry = await pool.ledger.get("orphan")
    assert entry is not None
    assert entry.state is LedgerState.SENT
    assert entry.attempts == 2  # the dead claim, then the copy's reclaim
    assert pool.vendor.log.count("orphan") == 1
    assert pool.dead_letters() == []


async def test_a_body_that_is_no_message_is_dead_lettered_with_why(pool: Pool) -> None:
    pool.sqs.send_message(QueueUrl=pool.url, MessageBody='{"to": "+1"}')

    async def gone() -> bool:
        return pool.waiting() == 0

    await pool.run_until([pool.replica("a")], gone)
    [dead] = pool.dead_letters()
    assert "not an outbound message" in dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"]


async def _async(value: bool) -> bool:
    return value
