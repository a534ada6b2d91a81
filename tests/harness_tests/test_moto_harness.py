"""The moto fixture is a real HTTP server with the semantics our storage code relies on."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.harness.moto_server import AwsEndpoint


def test_s3_round_trip_over_http(aws: AwsEndpoint) -> None:
    assert aws.endpoint_url.startswith("http://127.0.0.1:")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="snapshots")
    s3.put_object(Bucket="snapshots", Key="a/b", Body=b"hello")
    assert s3.get_object(Bucket="snapshots", Key="a/b")["Body"].read() == b"hello"


def test_s3_if_none_match_refuses_overwrite(aws: AwsEndpoint) -> None:
    """The latest-pointer CAS relies on 412 for an existing key."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="snapshots")
    s3.put_object(Bucket="snapshots", Key="latest", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket="snapshots", Key="latest", Body=b"2", IfNoneMatch="*")
    assert caught.value.response["Error"]["Code"] == "PreconditionFailed"


def test_s3_if_match_refuses_stale_etag(aws: AwsEndpoint) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="snapshots")
    first = s3.put_object(Bucket="snapshots", Key="latest", Body=b"1")["ETag"]
    s3.put_object(Bucket="snapshots", Key="latest", Body=b"2", IfMatch=first)
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket="snapshots", Key="latest", Body=b"3", IfMatch=first)
    assert caught.value.response["Error"]["Code"] == "PreconditionFailed"


def test_state_is_reset_between_tests_part_one(aws: AwsEndpoint) -> None:
    aws.client("sqs").create_queue(QueueName="leftover")


def test_state_is_reset_between_tests_part_two(aws: AwsEndpoint) -> None:
    assert aws.client("sqs").list_queues().get("QueueUrls", []) == []


def test_dynamodb_condition_expression(aws: AwsEndpoint) -> None:
    """Fencing on DynamoDB relies on conditional writes failing."""
    ddb = aws.client("dynamodb")
    ddb.create_table(
        TableName="leases",
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="leases", Item={"name": {"S": "a"}, "token": {"N": "5"}})
    with pytest.raises(ClientError) as caught:
        ddb.put_item(
            TableName="leases",
            Item={"name": {"S": "a"}, "token": {"N": "4"}},
            ConditionExpression="#t < :t",
            ExpressionAttributeNames={"#t": "token"},
            ExpressionAttributeValues={":t": {"N": "4"}},
        )
    assert caught.value.response["Error"]["Code"] == "ConditionalCheckFailedException"


def test_sns_filter_policy_routes_to_one_queue(aws: AwsEndpoint) -> None:
    """Outbound routing: each SenderPool queue sees only its own target."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="outbound")["TopicArn"]
    urls = {}
    for target in ("meta", "twilio"):
        url = sqs.create_queue(QueueName=f"q-{target}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={
                "FilterPolicy": f'{{"target": ["{target}"]}}',
                "RawMessageDelivery": "true",
            },
        )
        urls[target] = url
    sns.publish(
        TopicArn=topic,
        Message="hi",
        MessageAttributes={"target": {"DataType": "String", "StringValue": "twilio"}},
    )
    got_twilio = sqs.receive_message(QueueUrl=urls["twilio"], WaitTimeSeconds=1)
    got_meta = sqs.receive_message(QueueUrl=urls["meta"], WaitTimeSeconds=0)
    assert [m["Body"] for m in got_twilio.get("Messages", [])] == ["hi"]
    assert got_meta.get("Messages", []) == []
