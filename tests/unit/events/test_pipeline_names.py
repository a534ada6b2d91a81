"""What the events topic and the dispatcher's queue are called, and who may send to the queue."""

from __future__ import annotations

import json

import pytest

from session_runner.events.pipeline import PipelineNames, pipeline_names, queue_attributes
from session_runner.events.publish import TYPE_ATTRIBUTE, publish_request
from session_runner.topic_queues import topic_only_policy


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (
            "wafleet",
            PipelineNames("wafleet-events", "wafleet-events-dispatcher", "wafleet-events-retries"),
        ),
        (
            "prod-eu",
            PipelineNames("prod-eu-events", "prod-eu-events-dispatcher", "prod-eu-events-retries"),
        ),
    ],
)
def test_names(prefix: str, expected: PipelineNames) -> None:
    assert pipeline_names(prefix) == expected


@pytest.mark.parametrize("prefix", ["", "x" * 63])
def test_names_that_do_not_fit(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        pipeline_names(prefix)


def test_only_the_topic_may_send() -> None:
    policy = json.loads(topic_only_policy("arn:aws:sqs:us-east-1:1:q", "arn:aws:sns:us-east-1:1:t"))
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == "arn:aws:sqs:us-east-1:1:q"
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:1:t"}}


def test_queue_keeps_events_while_the_dispatcher_is_down() -> None:
    attributes = queue_attributes()
    assert attributes["MessageRetentionPeriod"] == "1209600"
    assert attributes["ReceiveMessageWaitTimeSeconds"] == "20"


def test_publish_request_carries_the_type() -> None:
    from datetime import UTC, datetime

    from session_runner.events.event import Event, EventType, Source

    event = Event.create(
        type=EventType.READ,
        source=Source.TWILIO,
        vendor_message_id="SM1",
        at=datetime(2026, 12, 6, tzinfo=UTC),
        namespace="shop",
        pool="tw",
    )
    request = publish_request("arn:aws:sns:us-east-1:1:t", event)
    assert request["TopicArn"] == "arn:aws:sns:us-east-1:1:t"
    assert Event.from_json(request["Message"]) == event
    assert request["MessageAttributes"] == {
        TYPE_ATTRIBUTE: {"DataType": "String", "StringValue": "message.read"}
    }
