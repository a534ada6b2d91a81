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


def _table(dynamodb: Any, name: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _put_new(item_id: str, value: str = "v") -> dict[str, Any]:
    return {
        "Put": {
            "TableName": "tx",
            "Item": {"id": {"S": item_id}, "value": {"S": value}},
            "ConditionExpression": "attribute_not_exists(#id)",
            "ExpressionAttributeNames": {"#id": "id"},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _ids(dynamodb: Any) -> set[str]:
    return {item["id"]["S"] for item in dynamodb.scan(TableName="tx")["Items"]}


def test_a_transaction_whose_conditions_hold_writes_every_item(aws: AwsEndpoint) -> None:
    dynamodb = aws.client("dynamodb")
    _table(dynamodb, "tx")
    dynamodb.put_item(TableName="tx", Item={"id": {"S": "counted"}, "n": {"N": "1"}})
    dynamodb.transact_write_items(
        TransactItems=[
            *(_put_new(f"new-{n}") for n in range(60)),
            {
                "Update": {
                    "TableName": "tx",
                    "Key": {"id": {"S": "counted"}},
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ]
    )
    assert _ids(dynamodb) == {"counted", *(f"new-{n}" for n in range(60))}
    counted = dynamodb.get_item(TableName="tx", Key={"id": {"S": "counted"}})["Item"]
    assert counted["n"] == {"N": "2"}


def test_a_failed_condition_cancels_all_with_each_items_reason(aws: AwsEndpoint) -> None:
    dynamodb = aws.client("dynamodb")
    _table(dynamodb, "tx")
    dynamodb.transact_write_items(TransactItems=[_put_new("taken", "first")])
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(
            TransactItems=[_put_new("a"), _put_new("taken", "second"), _put_new("b")]
        )
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = refused.value.response["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None", "ConditionalCheckFailed", "None"]
    assert reasons[1]["Item"] == {"id": {"S": "taken"}, "value": {"S": "first"}}
    assert _ids(dynamodb) == {"taken"}  # nothing of the cancelled transaction landed


def test_one_item_named_twice_is_refused_whole(aws: AwsEndpoint) -> None:
    dynamodb = aws.client("dynamodb")
    _table(dynamodb, "tx")
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=[_put_new("a"), _put_new("a")])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert _ids(dynamodb) == set()


def test_a_write_failing_part_way_leaves_no_item_written(aws: AwsEndpoint) -> None:
    """The conditions hold, but the last item's update cannot apply (a number added to a
    string): the items written before it are undone."""
    dynamodb = aws.client("dynamodb")
    _table(dynamodb, "tx")
    dynamodb.put_item(TableName="tx", Item={"id": {"S": "text"}, "n": {"S": "not a number"}})
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(
            TransactItems=[
                _put_new("a"),
                _put_new("b"),
                {
                    "Update": {
                        "TableName": "tx",
                        "Key": {"id": {"S": "text"}},
                        "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
    assert _ids(dynamodb) == {"text"}
    text = dynamodb.get_item(TableName="tx", Key={"id": {"S": "text"}})["Item"]
    assert text["n"] == {"S": "not a number"}
