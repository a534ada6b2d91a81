"""`RecordBatcher` against DynamoDB (the moto server): records of concurrent requests
share calls, each lands once, and a record of an id already stored is answered with it."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from session_runner.api.record_batches import RecordBatcher, RecordBatchError
from session_runner.sender.ledger import ensure_table
from tests.harness.moto_server import AwsEndpoint

TABLE = "records"


def item(record_id: str, body: str = "body") -> dict[str, Any]:
    return {"id": {"S": record_id}, "body": {"S": body}}


def counted_calls(client: Any) -> Counter[str]:
    """DynamoDB operations `client` makes, by name (botocore's own event hooks)."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.dynamodb", count)
    return calls


@pytest.fixture
def dynamodb(aws: AwsEndpoint) -> Any:
    client = aws.client("dynamodb")
    ensure_table(client, TABLE)
    return client


async def test_records_arriving_together_share_calls_and_all_land(dynamodb: Any) -> None:
    calls = counted_calls(dynamodb)
    batcher = RecordBatcher(dynamodb, TABLE)
    answers = await asyncio.gather(*(batcher.put_new(item(f"m{n}")) for n in range(300)))
    assert answers == [None] * 300
    stored = dynamodb.scan(TableName=TABLE, Select="COUNT")["Count"]
    assert stored == 300
    assert calls["TransactWriteItems"] >= 1
    assert sum(calls.values()) < 300 / 5  # batches, not a call per record


async def test_a_record_alone_is_one_plain_put(dynamodb: Any) -> None:
    calls = counted_calls(dynamodb)
    batcher = RecordBatcher(dynamodb, TABLE)
    assert await batcher.put_new(item("alone")) is None
    assert calls == Counter({"PutItem": 1})
    assert await batcher.put_new(item("alone", "another body")) == item("alone")


async def test_stored_ids_are_answered_with_their_item_and_the_rest_land(dynamodb: Any) -> None:
    for n in range(0, 100, 10):
        dynamodb.put_item(TableName=TABLE, Item=item(f"m{n}", "first"))
    batcher = RecordBatcher(dynamodb, TABLE)
    answers = await asyncio.gather(*(batcher.put_new(item(f"m{n}", "later")) for n in range(100)))
    for n, answer in enumerate(answers):
        assert answer == (item(f"m{n}", "first") if n % 10 == 0 else None), n
    bodies = {
        stored["id"]["S"]: stored["body"]["S"] for stored in dynamodb.scan(TableName=TABLE)["Items"]
    }
    assert bodies == {f"m{n}": "first" if n % 10 == 0 else "later" for n in range(100)}


async def test_concurrent_twins_let_exactly_one_land(dynamodb: Any) -> None:
    """Each id twice (two requests with one Idempotency-Key), with different bodies."""
    batcher = RecordBatcher(dynamodb, TABLE)
    twins = [(f"m{n}", side) for n in range(40) for side in ("left", "right")]
    answers = await asyncio.gather(*(batcher.put_new(item(i, side)) for i, side in twins))
    stored = {s["id"]["S"]: s["body"]["S"] for s in dynamodb.scan(TableName=TABLE)["Items"]}
    assert len(stored) == 40
    for (record_id, side), answer in zip(twins, answers, strict=True):
        if answer is None:  # this one landed: it is what is stored
            assert stored[record_id] == side
        else:  # the twin landed: answered with the twin's item
            assert answer == item(record_id, stored[record_id])
            assert stored[record_id] != side
    assert answers.count(None) == 40


async def test_dynamodb_unreachable_fails_every_waiting_record(aws: AwsEndpoint) -> None:
    import boto3
    from botocore.config import Config

    from tests.harness.control_plane.processes import free_port

    kwargs = {**aws.server.client_kwargs(), "endpoint_url": f"http://127.0.0.1:{free_port()}"}
    client = boto3.client(
        "dynamodb", config=Config(retries={"max_attempts": 1}, connect_timeout=1), **kwargs
    )
    batcher = RecordBatcher(client, TABLE)
    answers = await asyncio.gather(
        *(batcher.put_new(item(f"m{n}")) for n in range(20)), return_exceptions=True
    )
    assert all(isinstance(answer, RecordBatchError) for answer in answers)
    assert {answer.code for answer in answers if isinstance(answer, RecordBatchError)} == {
        "EndpointConnectionError"
    }
