"""The SenderPool's queues and subscription in SQS and SNS, ensured idempotently.

Synchronous boto3: the handler runs each function in a worker thread. Every
function may be called again after a crash at any line: creation is by name
(CreateQueue and CreateTopic return the existing resource when the
attributes match), attributes are set every time, and the subscription is
found before one is made. Nothing here touches a queue that `queue_owner`
says is another pool's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from session_runner import topic_queues

from .resources import (
    POOL_TAG,
    POOL_UID_TAG,
    Owner,
    dead_letter_queue_name,
    filter_policy,
    queue_owner,
    redrive_policy,
)

#: A dead letter waits for a person: SQS's longest retention, 14 days.
DEAD_LETTER_RETENTION_S = 1209600


class ForeignQueueError(Exception):
    """A queue under the pool's name belongs to something else; it is left alone."""


@dataclass(frozen=True)
class QueueSettings:
    max_receive_count: int
    visibility_timeout_s: int
    retention_s: int


@dataclass(frozen=True)
class PoolQueues:
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str
    subscription_arn: str


@dataclass(frozen=True)
class QueueDepth:
    visible: int
    in_flight: int


def ensure_topic(sns: Any, name: str) -> str:
    """The outbound topic's ARN (CreateTopic is idempotent by name)."""
    return str(sns.create_topic(Name=name)["TopicArn"])


def _owned_queue(sqs: Any, name: str, uid: str, pool: str, attributes: dict[str, str]) -> str:
    """The URL of queue `name`, created and tagged if missing; refused if it is not ours."""
    url = topic_queues.queue_url(sqs, name)
    tags = sqs.list_queue_tags(QueueUrl=url).get("Tags") if url else None
    owner = queue_owner(url is not None, tags, uid)
    if owner is Owner.FOREIGN:
        raise ForeignQueueError(f"queue {name} exists and is not this pool's (tag {POOL_UID_TAG})")
    if url is None:
        url = str(
            sqs.create_queue(
                QueueName=name, tags={POOL_UID_TAG: uid, POOL_TAG: pool}, Attributes=attributes
            )["QueueUrl"]
        )
    else:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def ensure_pool_queues(
    sqs: Any,
    sns: Any,
    *,
    topic_arn: str,
    name: str,
    uid: str,
    pool: str,
    target: str,
    settings: QueueSettings,
) -> PoolQueues:
    """DLQ, then the queue redriving into it, then its filtered raw subscription to the topic."""
    dlq_url = _owned_queue(
        sqs,
        dead_letter_queue_name(name),
        uid,
        pool,
        {"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_S)},
    )
    dlq_arn = topic_queues.queue_arn(sqs, dlq_url)
    attributes = topic_queues.queue_attributes(
        visibility_timeout_s=settings.visibility_timeout_s, retention_s=settings.retention_s
    )
    attributes["RedrivePolicy"] = redrive_policy(dlq_arn, settings.max_receive_count)
    url = _owned_queue(sqs, name, uid, pool, attributes)
    arn = topic_queues.queue_arn(sqs, url)
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": topic_queues.topic_only_policy(arn, topic_arn)}
    )
    subscription = topic_queues.subscription(sns, topic_arn, arn)
    if subscription is None:
        subscription = str(
            sns.subscribe(
                TopicArn=topic_arn,
                Protocol="sqs",
                Endpoint=arn,
                Attributes={"FilterPolicy": filter_policy(target), "RawMessageDelivery": "true"},
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
        )
    else:
        sns.set_subscription_attributes(
            SubscriptionArn=subscription,
            AttributeName="FilterPolicy",
            AttributeValue=filter_policy(target),
        )
    return PoolQueues(url, arn, dlq_url, subscription)


def delete_pool_queues(sqs: Any, sns: Any, *, topic_arn: str, name: str, uid: str) -> None:
    """Unsubscribe, then delete the queue and its DLQ: only those tagged with this pool's uid."""
    for queue in (name, dead_letter_queue_name(name)):
        url = topic_queues.queue_url(sqs, queue)
        if url is None:
            continue
        tags = sqs.list_queue_tags(QueueUrl=url).get("Tags")
        if queue_owner(True, tags, uid) is not Owner.OURS:
            continue
        subscription = topic_queues.subscription(sns, topic_arn, topic_queues.queue_arn(sqs, url))
        if subscription is not None:
            sns.unsubscribe(SubscriptionArn=subscription)
        sqs.delete_queue(QueueUrl=url)


def queue_depth(sqs: Any, url: str) -> QueueDepth:
    """Visible and in-flight counts (SQS's approximate numbers: what KEDA reads too)."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
        ],
    )["Attributes"]
    return QueueDepth(
        visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    )
