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
