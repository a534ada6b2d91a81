"""A SenderPool's queues and subscription on SQS/SNS (the moto server over HTTP)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness.moto_server import AwsEndpoint
from wafleet_operator.outbound.aws import (
    ForeignQueueError,
    QueueSettings,
    delete_pool_queues,
    ensure_pool_queues,
    ensure_topic,
    queue_depth,
)
from wafleet_operator.outbound.resources import POOL_UID_TAG

SETTINGS = QueueSettings(max_receive_count=2, visibility_timeout_s=30, retention_s=3600)


def ensure(aws: AwsEndpoint, pool: str, target: str, uid: str) -> tuple[Any, Any, str, Any]:
    sqs, sns = aws.client("sqs"), aws.client("sns")
    topic = ensure_topic(sns, "wafleet-outbound")
    queues = ensure_pool_queues(
        sqs,
        sns,
        topic_arn=topic,
        name=f"wafleet-ns-{pool}",
        uid=uid,
        pool=pool,
        target=target,
        settings=SETTINGS,
    )
    return sqs, sns, topic, queues


def publish(sns: Any, topic: str, target: str, body: dict[str, Any]) -> None:
    sns.publish(
        TopicArn=topic,
        Message=json.dumps(body),
        MessageAttributes={"target": {"DataType": "String", "StringValue": target}},
    )


def receive(sqs: Any, url: str, *, wait: int = 1, visibility: int | None = None) -> list[Any]:
    kwargs: dict[str, Any] = {"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": wait}
    if visibility is not None:
        kwargs["VisibilityTimeout"] = visibility
    return list(sqs.receive_message(**kwargs).get("Messages", []))


def test_each_pool_receives_only_its_targets_messages_raw(aws: AwsEndpoint) -> None:
    sqs, sns, topic, twilio = ensure(aws, "twilio-us", "twilio-us", "uid-1")
    _, _, _, meta = ensure(aws, "meta-eu", "meta-eu", "uid-2")
    publish(sns, topic, "meta-eu", {"id": "m-1"})

    got = receive(sqs, meta.queue_url)
    assert [json.loads(m["Body"]) for m in got] == [{"id": "m-1"}]  # raw: no SNS envelope
    assert receive(sqs, twilio.queue_url, wait=0) == []


def test_ensuring_twice_changes_nothing(aws: AwsEndpoint) -> None:
    _sqs, sns, topic, first = ensure(aws, "p", "t", "uid-1")
    _, _, _, second = ensure(aws, "p", "t", "uid-1")
    assert first == second
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert len(subscriptions) == 1


def test_a_message_received_too_often_moves_to_the_dead_letter_queue(aws: AwsEndpoint) -> None:
    sqs, sns, topic, queues = ensure(aws, "p", "t", "uid-1")
    publish(sns, topic, "t", {"id": "poison"})
    for _ in range(SETTINGS.max_receive_count):
        assert len(receive(sqs, queues.queue_url, visibility=0)) == 1
    assert receive(sqs, queues.queue_url, wait=0) == []
    dead = receive(sqs, queues.dead_letter_queue_url)
    assert [json.loads(m["Body"]) for m in dead] == [{"id": "poison"}]


@pytest.mark.parametrize(
    ("case", "tags"),
    [("another pool's uid", {POOL_UID_TAG: "uid-other"}), ("untagged", None)],
)
def test_a_queue_under_our_name_that_is_not_ours_is_left_alone(
    aws: AwsEndpoint, case: str, tags: dict[str, str] | None
) -> None:
    sqs = aws.client("sqs")
    kwargs: dict[str, Any] = {"QueueName": "wafleet-ns-p", "Attributes": {"VisibilityTimeout": "7"}}
    if tags:
        kwargs["tags"] = tags
    url = sqs.create_queue(**kwargs)["QueueUrl"]
    sqs.create_queue(QueueName="wafleet-ns-p-dlq", tags={POOL_UID_TAG: "uid-1"})

    with pytest.raises(ForeignQueueError, match="wafleet-ns-p "):
        ensure(aws, "p", "t", "uid-1")

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "7", case
    assert "RedrivePolicy" not in attributes, case


def test_deleting_a_pool_removes_its_queues_and_subscription_only(aws: AwsEndpoint) -> None:
    sqs, sns, topic, mine = ensure(aws, "p", "t", "uid-1")
    _, _, _, theirs = ensure(aws, "q", "u", "uid-2")

    delete_pool_queues(sqs, sns, topic_arn=topic, name="wafleet-ns-p", uid="uid-1")
    delete_pool_queues(sqs, sns, topic_arn=topic, name="wafleet-ns-q", uid="uid-wrong")

    urls = sqs.list_queues().get("QueueUrls", [])
    assert mine.queue_url not in urls
    assert mine.dead_letter_queue_url not in urls
    assert theirs.queue_url in urls
    assert theirs.dead_letter_queue_url in urls
    endpoints = [
        s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    ]
    assert endpoints == [theirs.queue_arn]
    # and again: nothing left to delete is not an error
    delete_pool_queues(sqs, sns, topic_arn=topic, name="wafleet-ns-p", uid="uid-1")


def test_queue_depth_counts_waiting_and_in_flight(aws: AwsEndpoint) -> None:
    sqs, sns, topic, queues = ensure(aws, "p", "t", "uid-1")
    for n in range(3):
        publish(sns, topic, "t", {"id": f"m-{n}"})
    got = sqs.receive_message(QueueUrl=queues.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
    assert len(got["Messages"]) == 1
    depth = queue_depth(sqs, queues.queue_url)
    assert (depth.visible, depth.in_flight) == (2, 1)
