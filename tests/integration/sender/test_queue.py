"""`PoolQueue.send_batch` on the moto server: up to ten messages a call, each with its delay."""

from __future__ import annotations

import time

from session_runner.sender.queue import PoolQueue
from tests.harness.moto_server import AwsEndpoint


async def test_send_batch_puts_every_message_and_holds_back_the_delayed_ones(
    aws: AwsEndpoint,
) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="send-test")["QueueUrl"]
    queue = PoolQueue(sqs, url)
    now_bodies = [f"now-{n}" for n in range(9)]
    answer = queue.send_batch([(body, 0) for body in now_bodies] + [("later", 900)])
    assert answer.get("Failed", []) == []
    assert sorted(int(item["Id"]) for item in answer["Successful"]) == list(range(10))

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
