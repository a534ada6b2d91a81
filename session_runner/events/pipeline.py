"""The events topic and the webhook dispatcher's queue behind it, ensured idempotently.

    ingest server / session runners ── SNS publish ──► <prefix>-events (topic)
        └─ raw-delivery subscription ──► <prefix>-events-dispatcher (SQS queue)
             └─ `wafleet-runner dispatcher` ◄──► <prefix>-events-retries (SQS queue:
                deliveries waiting for their next attempt; only the dispatcher uses it)

Synchronous boto3 (run it in a thread from async code). Every step may run
again after a crash at any line: CreateTopic and CreateQueue return what
exists by that name, attributes and the queue policy are set every time, and
the subscription is looked up before one is made.

The operator's outbound ensure (`wafleet_operator/outbound/aws.py`) does the
same for pool queues; it is not imported here because the runner's package
never depends on the operator's (the operator imports the runner's contract,
not the other way round).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from session_runner import topic_queues

DEFAULT_PREFIX: Final = "wafleet"
#: Events wait this long for a dispatcher that is down: SQS's longest, 14 days.
RETENTION_S: Final = 1209600
#: The dispatcher holds a received event this long before SQS offers it again.
VISIBILITY_TIMEOUT_S: Final = 60
RECEIVE_WAIT_S: Final = 20
#: SNS topic names: up to 256 of [A-Za-z0-9_-]; SQS queue names: up to 80.
QUEUE_NAME_MAX: Final = 80


@dataclass(frozen=True)
class PipelineNames:
    topic: str
    queue: str
    retries: str


@dataclass(frozen=True)
class EventsPipeline:
    topic_arn: str
    queue_url: str
    queue_arn: str
    subscription_arn: str
    retry_queue_url: str


def pipeline_names(prefix: str = DEFAULT_PREFIX) -> PipelineNames:
    """`<prefix>-events`, `<prefix>-events-dispatcher` and `<prefix>-events-retries` (the
    names in the chart's values)."""
    queue = f"{prefix}-events-dispatcher"
    if not prefix or len(queue) > QUEUE_NAME_MAX:
        raise ValueError(f"prefix must be 1 to {QUEUE_NAME_MAX - 18} characters")
    return PipelineNames(topic=f"{prefix}-events", queue=queue, retries=f"{prefix}-events-retries")


def queue_attributes() -> dict[str, str]:
    """The dispatcher queue's attributes: long polling, the longest retention."""
    return topic_queues.queue_attributes(
        visibility_timeout_s=VISIBILITY_TIMEOUT_S,
        retention_s=RETENTION_S,
        receive_wait_s=RECEIVE_WAIT_S,
    )


def ensure_events_pipeline(
    sns: Any, sqs: Any, topic_name: str, queue_name: str, retry_queue_name: str | None = None
) -> EventsPipeline:
    """The topic, the queue (policy: only the topic sends) and its raw subscription, and the
    dispatcher's retry queue (`<queue>`'s name with `-retries` for `-dispatcher` unless
    given)."""
    topic_arn = str(sns.create_topic(Name=topic_name)["TopicArn"])
    url = topic_queues.queue_url(sqs, queue_name)
    if url is None:
        url = str(sqs.create_queue(QueueName=queue_name, Attributes=queue_attributes())["QueueUrl"])
    else:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=queue_attributes())
    queue_arn = topic_queues.queue_arn(sqs, url)
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": topic_queues.topic_only_policy(queue_arn, topic_arn)}
    )
    subscription = topic_queues.subscription(sns, topic_arn, queue_arn)
    if subscription is None:
        subscription = str(
            sns.subscribe(
                TopicArn=topic_arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                Attributes={"RawMessageDelivery": "true"},
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
        )
    else:
        sns.set_subscription_attributes(
            SubscriptionArn=subscription, AttributeName="RawMessageDelivery", AttributeValue="true"
        )
    retries = retry_queue_name or queue_name.removesuffix("-dispatcher") + "-retries"
    retry_url = topic_queues.queue_url(sqs, retries)
    if retry_url is None:
        retry_url = str(
            sqs.create_queue(QueueName=retries, Attributes=queue_attributes())["QueueUrl"]
        )
    else:
        sqs.set_queue_attributes(QueueUrl=retry_url, Attributes=queue_attributes())
    return EventsPipeline(topic_arn, url, queue_arn, subscription, retry_url)
