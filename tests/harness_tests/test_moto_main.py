"""The moto server as `tests.harness.moto_main` serves it: AWS's answers, kept-alive
connections, DynamoDB's conditional writes atomic, long polls that block nobody else."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.harness.moto_server import AwsEndpoint


def test_one_connection_serves_many_requests(aws: AwsEndpoint) -> None:
    """werkzeug's development server closed every connection after one answer."""
    url = urllib.parse.urlsplit(aws.endpoint_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
    try:
        for _ in range(3):
            connection.request("GET", "/moto-api/data.json")
            answer = connection.getresponse()
            assert answer.status == 200
            answer.read()
            assert answer.getheader("Connection", "").lower() != "close"
        assert connection.sock is not None  # still the first socket: nothing reconnected
    finally:
        connection.close()


def test_each_service_we_use_answers(aws: AwsEndpoint) -> None:
    s3, sqs, sns, dynamodb = (aws.client(name) for name in ("s3", "sqs", "sns", "dynamodb"))
    s3.create_bucket(Bucket="harness-bucket")
    body = b"x" * (6 * 1024 * 1024)  # large enough for boto3's `Expect: 100-continue`
    s3.put_object(Bucket="harness-bucket", Key="k", Body=body)
    assert s3.get_object(Bucket="harness-bucket", Key="k")["Body"].read() == body
    s3.put_object(Bucket="harness-bucket", Key="empty", Body=b"")  # Expect: 100-continue too
    assert s3.get_object(Bucket="harness-bucket", Key="empty")["Body"].read() == b""
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    sns.publish(TopicArn=topic, Message="hello")
    (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    assert message["Body"] == "hello"
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="t", Item={"id": {"S": "a"}})
    assert dynamodb.get_item(TableName="t", Key={"id": {"S": "a"}})["Item"] == {"id": {"S": "a"}}


def test_concurrent_conditional_puts_of_one_item_let_exactly_one_win(aws: AwsEndpoint) -> None:
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName="claims",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def claim(n: int, item: str) -> bool | str:
        """True when this put won; else DynamoDB's error code (a refusal, or what went wrong)."""
        try:
            dynamodb.put_item(
                TableName="claims",
                Item={"id": {"S": item}, "by": {"N": str(n)}},
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return True

    items = [f"item-{n}" for n in range(40)]  # 16 threads at a time on each
    with ThreadPoolExecutor(16) as pool:
        wins: list[Any] = list(
            pool.map(lambda job: claim(*job), [(n, item) for item in items for n in range(16)])
        )
    refusals = {outcome for outcome in wins if outcome is not True}
    assert refusals == {"ConditionalCheckFailedException"}
    per_item = [wins[i * 16 : (i + 1) * 16].count(True) for i in range(len(items))]
    assert per_item == [1] * len(items)


@pytest.mark.timeout(60)
def test_a_long_poll_holds_up_no_other_request(aws: AwsEndpoint) -> None:
    sqs = aws.client("sqs")
    queue = sqs.create_queue(QueueName="quiet")["QueueUrl"]
    polls = [
        threading.Thread(
            target=sqs.receive_message, kwargs={"QueueUrl": queue, "WaitTimeSeconds": 3}
        )
        for _ in range(20)
    ]
    for poll in polls:
        poll.start()
    time.sleep(0.5)
    answered = time.monotonic()
    sqs.list_queues()
    waited = time.monotonic() - answered
    for poll in polls:
        poll.join()
    assert waited < 2.5, f"list_queues waited {waited:.1f} s behind 20 long polls"
