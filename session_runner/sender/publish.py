"""Putting a message on the outbound topic: what every producer (CLI, HTTP API) calls.

`publish` makes one Publish call per message (the CLI sends one). The HTTP API
answers many clients at once: `TopicPublisher` lets the messages asked for
within a few milliseconds share one PublishBatch (up to ten), a round trip per
ten messages instead of one each, and each caller still hears only about its
own message.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from session_runner.contract.outbound import TARGET_ATTRIBUTE
from session_runner.sender.batching import Coalescer
from session_runner.sender.message import OutboundMessage

#: How long a message waits for others to share its PublishBatch: short against a
#: request's round trip, long enough for the requests arriving together under load.
PUBLISH_LINGER_S: Final = 0.005


def publish_request(topic_arn: str, message: OutboundMessage) -> dict[str, Any]:
    """The SNS Publish arguments for `message`: the body, and the target the pools filter on."""
    return {
        "TopicArn": topic_arn,
        "Message": message.to_json(),
        "MessageAttributes": {
            TARGET_ATTRIBUTE: {"DataType": "String", "StringValue": message.target}
        },
    }


async def publish(sns: Any, topic_arn: str, message: OutboundMessage) -> str:
    """Publish; returns SNS's message id. Publishing one id twice is safe: the ledger keeps
    the second from being sent."""
    answer = await asyncio.to_thread(sns.publish, **publish_request(topic_arn, message))
    return str(answer["MessageId"])


class PublishRefusedError(Exception):
    """SNS refused this message's entry of a PublishBatch (its code in the message)."""


def batch_entry(message: OutboundMessage, entry_id: str) -> dict[str, Any]:
    """The PublishBatch entry for `message`: as `publish_request`, with the entry's id."""
    request = publish_request("", message)
    return {
        "Id": entry_id,
        "Message": request["Message"],
        "MessageAttributes": request["MessageAttributes"],
    }


class TopicPublisher:
    """Publishes to one topic, the messages of callers arriving together in one PublishBatch.

    A message is published once its batch call answered for it; a refused entry raises
    `PublishRefusedError`, a failed call what boto3 raised. Publishing one id twice is
    safe, as for `publish`.
    """

    def __init__(self, sns: Any, topic_arn: str, linger_s: float = PUBLISH_LINGER_S) -> None:
        self.sns = sns
        self.topic_arn = topic_arn
        self._batches: Coalescer[OutboundMessage] = Coalescer(
            self._publish_batch,
            linger_s,
            lambda code: PublishRefusedError(f"publish refused: {code}"),
        )

    async def publish(self, message: OutboundMessage) -> None:
        (done,) = self._batches.add([message])
        await done

    def _publish_batch(self, messages: list[OutboundMessage]) -> dict[str, Any]:
        """One PublishBatch (blocking; the coalescer runs it in a thread). Entry ids are the
        messages' indexes, which is how the coalescer matches `Failed` items to callers."""
        answer: dict[str, Any] = self.sns.publish_batch(
            TopicArn=self.topic_arn,
            PublishBatchRequestEntries=[
                batch_entry(message, str(n)) for n, message in enumerate(messages)
            ],
        )
        return answer
