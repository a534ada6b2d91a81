"""The events topic the ingest publishes to, given by ARN or by name.

The chart names the topic (`wafleet-events`, the name the operator creates it
under) rather than asking for an ARN, which would need the account id and
region spelled out: a name is resolved once at start-up with SNS CreateTopic,
which is idempotent (on an existing topic it only returns its ARN).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError


class TopicError(Exception):
    """The topic name could not be resolved; the message names the topic and the error code."""


def is_topic_arn(value: str) -> bool:
    """An ARN is used as given; anything else is a topic name."""
    return value.startswith("arn:")


def resolve_topic_arn(sns: Any, topic: str) -> str:
    """`topic` itself when it is an ARN, else the ARN of the topic of that name (blocking)."""
    if is_topic_arn(topic):
        return topic
    try:
        return str(sns.create_topic(Name=topic)["TopicArn"])
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "ClientError")
        raise TopicError(f"events topic {topic}: CreateTopic failed: {code}") from None
    except BotoCoreError as error:
        raise TopicError(f"events topic {topic}: {type(error).__name__}") from None
