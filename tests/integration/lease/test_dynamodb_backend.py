"""DynamoDB specifics on the moto server: item layout, failures, and fenced writes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from session_runner.session.lease.dynamodb import DynamoDbLeaseBackend, client_config, ensure_table
from session_runner.session.lease.fencing import FencedOutError, fenced_put
from session_runner.session.lease.record import LeaseBackendError, LeaseRecord

TABLE = "wafleet-leases"
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def client(aws: Any) -> Any:
    return boto3.client("dynamodb", config=client_config(2.0), **aws.server.client_kwargs())


async def test_item_layout_and_version_per_write(client: Any) -> None:
    backend = DynamoDbLeaseBackend(client, TABLE, "alice")
    await backend.ensure_table()
    await backend.ensure_table()  # idempotent
    created = await backend.create(LeaseRecord("a", 15.0, WHEN, WHEN, transitions=2))
    updated = await backend.update(replace(created, holder=None, acquire_time=None))
    assert (created.version, updated.version) == ("1", "2")
    item = client.get_item(TableName=TABLE, Key={"name": {"S": "alice"}})["Item"]
    assert item == {
        "name": {"S": "alice"},
        "duration": {"N": "15.0"},
        "renew_time": {"S": "2024-05-01T12:00:00+00:00"},
        "transitions": {"N": "2"},
        "version": {"N": "2"},
    }


async def test_a_missing_table_is_a_backend_error(client: Any) -> None:
    with pytest.raises(LeaseBackendError, match="ResourceNotFoundException"):
        await DynamoDbLeaseBackend(client, "no-such-table", "alice").get()


async def test_an_unreachable_endpoint_is_a_backend_error(aws: Any) -> None:
    kwargs = {**aws.server.client_kwargs(), "endpoint_url": "http://127.0.0.1:9"}
    unreachable = boto3.client("dynamodb", config=client_config(1.0), **kwargs)
    with pytest.raises(LeaseBackendError):
        await DynamoDbLeaseBackend(unreachable, TABLE, "alice").get()


async def test_fenced_put_refuses_a_lower_token(client: Any) -> None:
    ensure_table(client, TABLE)
    key = {"name": {"S": "alice/latest"}}

    async def put(token: int, manifest: str) -> None:
        await fenced_put(client, TABLE, "name", {**key, "manifest": {"S": manifest}}, token)

    def stored() -> dict[str, Any]:
        return client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]  # type: ignore[no-any-return]

    await put(3, "m1")  # first write: nothing to compare with
    await put(3, "m2")  # same holder again
    await put(5, "m3")  # a later holder
    with pytest.raises(FencedOutError):
        await put(4, "stale")  # a holder that lost the lease, waking up
    assert stored()["manifest"] == {"S": "m3"}
    assert stored()["fencing_token"] == {"N": "5"}


async def test_fenced_put_needs_the_key(client: Any) -> None:
    with pytest.raises(ValueError, match="key attribute"):
        await fenced_put(client, TABLE, "name", {"manifest": {"S": "x"}}, 1)
