"""`PoolQueue.send` on the moto server: many messages, ten per call, each with its delay."""

from __future__ import annotations

import asyncio
import time

from session_runner.sender.queue import PoolQueue
from tests.harness.moto_server import AwsEndpoint


async def test_send_puts_every_message_and_holds_back_the_delayed_ones(aws: AwsEndpoint) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="send-test")["QueueUrl"]
    queue = PoolQueue(sqs, url)
    now_bodies = [f"now-{n}" for n in range(23)]  # three SendMessageBatch calls
    await queue.send([(body, 0) for body in now_bodies] + [("later", 900)])

    got: list[str] = []
    deadline = time.monotonic() + 30
    while len(got) < len(now_bodies) and time.monotonic() < deadline:
        for message in await queue.receive(wait_s=1):
            got.append(message.body)
            await queue.finish(message)
    assert sorted(got) == sorted(now_bodies)
    assert await queue.receive(wait_s=1) == []  # "later" is 900 s away
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


async def test_send_of_nothing_makes_no_call(aws: AwsEndpoint) -> None:
    queue = PoolQueue(aws.client("sqs"), "http://nowhere.invalid/queue")
    await queue.send([])  # would raise if it called SQS at that URL


async def test_sends_asked_for_at_once_share_their_calls(aws: AwsEndpoint) -> None:
    """Five handlers each putting two messages at the same moment: one SendMessageBatch."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="send-shared")["QueueUrl"]
    calls: list[int] = []
    sqs.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch",
        lambda params, **_: calls.append(len(params["Entries"])),
    )
    queue = PoolQueue(sqs, url)
    await asyncio.gather(*(queue.send([(f"{n}-a", 0), (f"{n}-b", 0)]) for n in range(5)))
    assert calls == [10]
    got: list[str] = []
    while len(got) < 10:
        batch = await queue.receive(wait_s=1)
        assert batch, f"only {len(got)} of 10 arrived"
        got += [message.body for message in batch]
    assert sorted(got) == sorted(f"{n}-{x}" for n in range(5) for x in "ab")


async def test_a_longer_send_linger_gathers_sends_asked_for_apart(aws: AwsEndpoint) -> None:
    """The dispatcher's retry queue lingers 0.5 s: puts 0.1 s apart share one call."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="send-linger")["QueueUrl"]
    calls: list[int] = []
    sqs.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch",
        lambda params, **_: calls.append(len(params["Entries"])),
    )
    queue = PoolQueue(sqs, url, send_linger_s=0.5)

    async def send_after(delay_s: float, body: str) -> None:
        await asyncio.sleep(delay_s)
        await queue.send([(body, 0)])

    await asyncio.gather(send_after(0.0, "first"), send_after(0.1, "second"))
    assert calls == [2]
