"""DynamoDB as every role uses it: bounded clients without hidden retries, tables on demand.

The lease backend, the outbound ledger and the pool rate limiter all make
conditional writes, where a retry hidden inside botocore could turn a write
that landed into a reported conflict; so their clients retry nothing, and
each caller retries on its own schedule.
"""

from __future__ import annotations

import contextlib
from typing import Any


def client_config(request_timeout: float = 5.0, max_pool_connections: int = 10) -> Any:
    """A botocore Config for conditional-write clients: bounded calls, no hidden retries.
    (`max_pool_connections`: botocore's default is 10; a sender with more messages in
    flight than that would queue for a connection.)"""
    from botocore.config import Config

    return Config(
        connect_timeout=request_timeout,
        read_timeout=request_timeout,
        retries={"max_attempts": 1, "mode": "standard"},
        max_pool_connections=max_pool_connections,
    )


def ensure_table(client: Any, table: str, hash_key: str) -> None:
    """Create `table` with string hash key `hash_key` (on-demand billing) unless it exists; wait for it."""
    with contextlib.suppress(client.exceptions.ResourceInUseException):
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": hash_key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
