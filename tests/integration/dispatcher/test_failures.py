"""The shared failure window on DynamoDB (the moto server): counted by every replica, once."""

from __future__ import annotations

import asyncio
from typing import Any

import boto3
import pytest

from session_runner.dispatcher.failure_window import over_limit
from session_runner.dispatcher.failures import FailureStore, window_key
from session_runner.sender.ledger import client_config, ensure_table
from tests.harness.moto_server import AwsEndpoint

TABLE = "wafleet-outbound-ledger"
T0 = 1_765_000_000.0


@pytest.fixture
def make_store(aws: AwsEndpoint) -> Any:
    def make() -> FailureStore:
        client = boto3.client("dynamodb", config=client_config(5.0), **aws.server.client_kwargs())
        return FailureStore(client, TABLE)

    ensure_table(boto3.client("dynamodb", **aws.server.client_kwargs()), TABLE)
    return make


async def test_the_21st_failure_in_a_day_is_over_a_limit_of_20(make_store: Any) -> None:
    store = make_store()
    verdicts = []
    for n in range(21):
        at = T0 + n * 3600
        window = await store.record("shop", "crm", 1, at, limit=20)
        verdicts.append(over_limit(window, at, limit=20))
    assert verdicts == [False] * 20 + [True]
    assert len(await store.window("shop", "crm", 1)) == 21


async def test_replicas_failing_at_once_all_count(make_store: Any) -> None:
    stores = [make_store() for _ in range(3)]
    await asyncio.gather(
        *(
            store.record("shop", "crm", 1, T0 + replica * 100 + n, limit=100)
            for replica, store in enumerate(stores)
            for n in range(10)
        )
    )
    assert len(await stores[0].window("shop", "crm", 1)) == 30


async def test_failures_at_once_in_one_replica_are_written_together_each_seeing_its_own(
    make_store: Any, aws: AwsEndpoint
) -> None:
    """A dead subscriber's eight attempts time out together: one write (not eight racing
    compare-and-swaps), and each failure's window as if written one by one."""
    store = make_store()
    ats = [T0 + n for n in range(8)]
    windows = await asyncio.gather(*(store.record("shop", "crm", 1, at, limit=5) for at in ats))
    assert [over_limit(w, at, limit=5) for w, at in zip(windows, ats, strict=True)] == [
        False
    ] * 5 + [True] * 3
    assert windows[0] == (T0,)
    assert await store.window("shop", "crm", 1) == tuple(ats[-6:])
    item = aws.client("dynamodb").get_item(
        TableName=TABLE, Key={"id": {"S": window_key("shop", "crm", 1)}}
    )["Item"]
    assert int(item["version"]["N"]) <= 2  # the first failure's write, then the other seven's


async def test_a_new_generation_starts_with_an_empty_window(make_store: Any) -> None:
    store = make_store()
    await store.record("shop", "crm", 1, T0, limit=20)
    assert await store.window("shop", "crm", 2) == ()
    assert await store.window("shop", "crm", 1) == (T0,)


async def test_the_window_keeps_at_most_what_can_decide(make_store: Any) -> None:
    store = make_store()
    for n in range(10):
        await store.record("shop", "crm", 1, T0 + n, limit=3)
    assert await store.window("shop", "crm", 1) == (T0 + 6, T0 + 7, T0 + 8, T0 + 9)


def test_keys_cannot_meet_a_message_id() -> None:
    import re

    from session_runner.sender.message import MESSAGE_ID_PATTERN

    key = window_key("shop", "crm", 3)
    assert key == "webhook-failures#shop/crm#3"
    assert re.fullmatch(MESSAGE_ID_PATTERN, key) is None
