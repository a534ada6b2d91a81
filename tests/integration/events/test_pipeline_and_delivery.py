"""The events topic, the dispatcher's queue and the ledger's delivery status, on the moto server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from session_runner.events.delivery import DeliveryLedger, Recorded
from session_runner.events.event import Event, EventType, Source
from session_runner.events.pipeline import ensure_events_pipeline, pipeline_names
from session_runner.events.publish import EventPublisher, PublishError
from session_runner.sender.ledger import Ledger, client_config, ensure_table
from session_runner.session.engines.events import AckStatus
from tests.harness.moto_server import AwsEndpoint

TABLE = "wafleet-outbound-ledger"
NAMES = pipeline_names("wafleet")


def status(kind: EventType, *, wamid: str = "wamid.A", code: str | None = None) -> Event:
    return Event.create(
        type=kind,
        source=Source.META,
        vendor_message_id=wamid,
        at=datetime(2026, 12, 6, 10, 0, tzinfo=UTC),
        namespace="shop",
        pool="meta-eu",
        message_id="order-1",
        error_code=code,
    )


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message waiting in the queue (deleted as read)."""
    messages: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        batch = answer.get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        messages.extend(batch)


def test_pipeline_is_ensured_idempotently(aws: AwsEndpoint) -> None:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    first = ensure_events_pipeline(sns, sqs, NAMES.topic, NAMES.queue)
    again = ensure_events_pipeline(sns, sqs, NAMES.topic, NAMES.queue)
    assert again == first
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=first.topic_arn)["Subscriptions"]
    assert [s["Endpoint"] for s in subscriptions] == [first.queue_arn]
    attributes = sns.get_subscription_attributes(SubscriptionArn=first.subscription_arn)
    assert attributes["Attributes"]["RawMessageDelivery"] == "true"
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=first.queue_url, AttributeNames=["Policy"])["Attributes"][
            "Policy"
        ]
    )
    [statement] = policy["Statement"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == first.topic_arn
    assert statement["Resource"] == first.queue_arn
    # the dispatcher's retry queue, named after the dispatcher's queue, with no subscription
    assert first.retry_queue_url == sqs.get_queue_url(QueueName=NAMES.retries)["QueueUrl"]
    retention = sqs.get_queue_attributes(
        QueueUrl=first.retry_queue_url, AttributeNames=["MessageRetentionPeriod"]
    )["Attributes"]["MessageRetentionPeriod"]
    assert retention == "1209600"


def test_a_changed_subscription_is_put_back(aws: AwsEndpoint) -> None:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    first = ensure_events_pipeline(sns, sqs, NAMES.topic, NAMES.queue)
    sns.set_subscription_attributes(
        SubscriptionArn=first.subscription_arn,
        AttributeName="RawMessageDelivery",
        AttributeValue="false",
    )
    ensure_events_pipeline(sns, sqs, NAMES.topic, NAMES.queue)
    attributes = sns.get_subscription_attributes(SubscriptionArn=first.subscription_arn)
    assert attributes["Attributes"]["RawMessageDelivery"] == "true"


async def test_published_events_reach_the_dispatcher_queue_raw(aws: AwsEndpoint) -> None:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    pipeline = ensure_events_pipeline(sns, sqs, NAMES.topic, NAMES.queue)
    publisher = EventPublisher(sns, pipeline.topic_arn)
    sent, read = status(EventType.SENT), status(EventType.READ)
    await asyncio.gather(publisher.publish(sent), publisher.publish(read))
    messages = drain(sqs, pipeline.queue_url)
    received = {Event.from_json(m["Body"]): m["MessageAttributes"] for m in messages}
    assert set(received) == {sent, read}
    assert received[read]["type"] == {"DataType": "String", "StringValue": "message.read"}


async def test_a_publish_to_a_missing_topic_fails_naming_only_the_topic(aws: AwsEndpoint) -> None:
    missing = "arn:aws:sns:us-east-1:123456789012:nowhere"
    publisher = EventPublisher(aws.client("sns"), missing)
    with pytest.raises(PublishError) as raised:
        await publisher.publish(status(EventType.SENT))
    assert str(raised.value).startswith(f"publish to {missing}: ")
    assert "order-1" not in str(raised.value)
    assert raised.value.__cause__ is None


@pytest.fixture
def dynamodb(aws: AwsEndpoint) -> Any:
    client = boto3.client("dynamodb", config=client_config(2.0), **aws.server.client_kwargs())
    ensure_table(client, TABLE)
    return client


async def sent_message(dynamodb: Any, message_id: str = "order-1") -> None:
    """A message as the sender leaves it: claimed, sent, the vendor's id recorded."""
    ledger = Ledger(dynamodb, TABLE)
    await ledger.claim(message_id, "sender-0", 30.0)
    assert await ledger.record_sent(message_id, "sender-0", "wamid.A")


@pytest.mark.parametrize(
    ("case", "steps", "final"),
    [
        (
            "forward, one step at a time",
            [(EventType.SENT, True), (EventType.DELIVERED, True), (EventType.READ, True)],
            AckStatus.READ,
        ),
        (
            "a duplicate changes nothing",
            [(EventType.DELIVERED, True), (EventType.DELIVERED, False)],
            AckStatus.DELIVERED,
        ),
        (
            "a late delivery never undoes a read",
            [(EventType.READ, True), (EventType.DELIVERED, False), (EventType.SENT, False)],
            AckStatus.READ,
        ),
        (
            "failed is terminal",
            [(EventType.SENT, True), (EventType.FAILED, True), (EventType.READ, False)],
            AckStatus.FAILED,
        ),
    ],
)
async def test_delivery_moves_forward_only(
    dynamodb: Any, case: str, steps: list[tuple[EventType, bool]], final: AckStatus
) -> None:
    await sent_message(dynamodb)
    deliveries = DeliveryLedger(dynamodb, TABLE)
    assert await deliveries.read("order-1") == Recorded(exists=True, status=None)
    moved = [await deliveries.record("order-1", status(kind)) for kind, _ in steps]
    assert moved == [expected for _, expected in steps], case
    assert await deliveries.read("order-1") == Recorded(exists=True, status=final)
    # the sender's view of the item is untouched
    entry = await Ledger(dynamodb, TABLE).get("order-1")
    assert entry is not None
    assert (entry.state.value, entry.vendor_message_id) == ("SENT", "wamid.A")


async def test_a_failure_keeps_its_code(dynamodb: Any) -> None:
    await sent_message(dynamodb)
    assert await DeliveryLedger(dynamodb, TABLE).record(
        "order-1", status(EventType.FAILED, code="131026")
    )
    item = dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "order-1"}}, ConsistentRead=True)
    assert item["Item"]["delivery"] == {"S": "failed"}
    assert item["Item"]["delivery_error_code"] == {"S": "131026"}
    assert float(item["Item"]["delivery_at"]["N"]) == status(EventType.FAILED).at.timestamp()


async def test_a_message_the_ledger_never_saw_is_not_created(dynamodb: Any) -> None:
    deliveries = DeliveryLedger(dynamodb, TABLE)
    assert not await deliveries.record("order-unknown", status(EventType.DELIVERED))
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "order-unknown"}})
    assert await deliveries.read("order-unknown") == Recorded(exists=False)


async def test_the_sender_can_still_settle_after_an_early_status(dynamodb: Any) -> None:
    """Meta may post `sent` before the sender has recorded SENT: both writes land."""
    ledger = Ledger(dynamodb, TABLE)
    await ledger.claim("order-1", "sender-0", 30.0)
    assert await DeliveryLedger(dynamodb, TABLE).record("order-1", status(EventType.SENT))
    assert await ledger.record_sent("order-1", "sender-0", "wamid.A")
    assert await DeliveryLedger(dynamodb, TABLE).read("order-1") == Recorded(
        exists=True, status=AckStatus.SENT
    )


@pytest.mark.parametrize("bad", ["ratelimit#shop/meta-eu", "", "a b"])
async def test_only_message_ids_are_keys(dynamodb: Any, bad: str) -> None:
    with pytest.raises(ValueError, match="not a message id"):
        await DeliveryLedger(dynamodb, TABLE).record(bad, status(EventType.READ))
