"""Publishing events to the events SNS topic, which the dispatcher's queue subscribes to.

The body is the event's JSON (`Event.to_json`); the message attribute `type`
lets a subscription filter on the kind of event (the dispatcher takes all).
boto3 is synchronous: each publish runs in a worker thread. A publish that
fails raises `PublishError` naming the topic's error code only, never the
request (its body can quote a customer's message); the caller answers the
vendor with an error so the vendor retries, and the event's stable id makes
the retry harmless.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from session_runner.events.event import Event

#: The SNS message attribute carrying the event type.
TYPE_ATTRIBUTE: Final = "type"


class PublishError(Exception):
    """SNS did not take the event; whether it was published is unknown."""


def publish_request(topic_arn: str, event: Event) -> dict[str, Any]:
    """The SNS Publish arguments for one event."""
    return {
        "TopicArn": topic_arn,
        "Message": event.to_json(),
        "MessageAttributes": {
            TYPE_ATTRIBUTE: {"DataType": "String", "StringValue": event.type.value}
        },
    }


class EventPublisher:
    """Publishes events to one topic through a boto3 SNS client."""

    def __init__(self, sns: Any, topic_arn: str) -> None:
        self.sns = sns
        self.topic_arn = topic_arn

    async def publish(self, event: Event) -> str:
        """Publish one event; returns SNS's message id."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = await asyncio.to_thread(
                self.sns.publish, **publish_request(self.topic_arn, event)
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "unknown")
            raise PublishError(f"publish to {self.topic_arn}: {code}") from None
        except (BotoCoreError, OSError) as error:
            raise PublishError(f"publish to {self.topic_arn}: {type(error).__name__}") from None
        return str(answer["MessageId"])
