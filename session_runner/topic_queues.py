"""An SQS queue fed by an SNS topic: the pieces every such pair in wafleet shares.

Each SenderPool's queue (the operator, `wafleet_operator.outbound`) and the
webhook dispatcher's events queue (`session_runner.events.pipeline`) are
queues only their topic may send into, subscribed with raw delivery and
long-polled. The policy, the attributes and the idempotent look-ups live here
once; what differs (names, redrive, filter, tags) stays with each owner.
Plain boto3 calls, synchronous: callers run them in a thread.
"""

from __future__ import annotations

import json
from typing import Any, Final

from botocore.exceptions import ClientError

#: SQS's answers for a queue that does not exist (the query and the JSON protocol's codes).
NO_SUCH_QUEUE: Final = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
#: SQS's longest long poll.
LONG_POLL_S: Final = 20


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def queue_attributes(
    *, visibility_timeout_s: int, retention_s: int, receive_wait_s: int = LONG_POLL_S
) -> dict[str, str]:
    """A long-polled queue's attributes (besides its policy and any redrive)."""
    return {
        "VisibilityTimeout": str(visibility_timeout_s),
        "MessageRetentionPeriod": str(retention_s),
        "ReceiveMessageWaitTimeSeconds": str(receive_wait_s),
    }


def topic_only_policy(queue_arn: str, topic_arn: str) -> str:
    """Let the topic, and nothing else, send into the queue."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
    )


def queue_url(sqs: Any, name: str) -> str | None:
    """The URL of the queue `name`, None when there is none."""
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as error:
        if error_code(error) in NO_SUCH_QUEUE:
            return None
        raise


def queue_arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def subscription(sns: Any, topic_arn: str, endpoint_arn: str) -> str | None:
    """The topic's subscription delivering to `endpoint_arn`, if any."""
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for found in page.get("Subscriptions", []):
            if found.get("Endpoint") == endpoint_arn:
                return str(found["SubscriptionArn"])
    return None
