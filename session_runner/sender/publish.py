"""Putting a message on the outbound topic: what every producer (CLI, HTTP API) calls."""

from __future__ import annotations

import asyncio
from typing import Any

from session_runner.contract.outbound import TARGET_ATTRIBUTE
from session_runner.sender.message import OutboundMessage


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
