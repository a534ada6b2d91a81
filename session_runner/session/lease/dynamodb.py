"""The lease as one DynamoDB item, for runners outside Kubernetes and the local demo.

Item (table hash key `name`, a string):

    name, holder (absent when released), duration (N, seconds),
    acquire_time / renew_time (RFC 3339 strings, informational),
    transitions (N), version (N, +1 on every write)

`version` plays resourceVersion's part: every write is a PutItem conditional
on it, so DynamoDB serialises competing claims exactly as the API server
does. Reads are strongly consistent (an eventually consistent read could show
an old version and make a runner believe a live holder has gone quiet).

boto3 is synchronous; each call runs in a worker thread (`asyncio.to_thread`)
so the event loop, and with it the renew deadline, is never blocked. Build
the client with short timeouts and without retries (`client_config()`): a
retried conditional write whose first attempt landed would report a false
conflict, and the elector already retries on its own schedule.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Any

from session_runner.dynamodb import client_config as client_config
from session_runner.dynamodb import ensure_table as ensure_dynamodb_table
from session_runner.session.lease.record import (
    LeaseBackendError,
    LeaseConflict,
    LeaseNotFound,
    LeaseRecord,
)

HASH_KEY = "name"
_NAMES = {"#n": HASH_KEY, "#v": "version"}


class DynamoDbLeaseBackend:
    """Lease `name` as an item of `table`, through a boto3 DynamoDB client."""

    def __init__(self, client: Any, table: str, name: str) -> None:
        self.client = client
        self.table = table
        self.name = name

    async def get(self) -> LeaseRecord | None:
        response = await self._call(
            self.client.get_item,
            TableName=self.table,
            Key={HASH_KEY: {"S": self.name}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _record(item) if item else None

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        stored = _with_version(record, 1)
        try:
            await self._call(
                self.client.put_item,
                TableName=self.table,
                Item=self._item(stored),
                ConditionExpression="attribute_not_exists(#n)",
                ExpressionAttributeNames={"#n": HASH_KEY},
            )
        except _ConditionFailedError as exc:
            raise LeaseConflict(f"lease {self.name} already exists") from exc
        return stored

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        try:
            expected = int(record.version)
        except ValueError:
            raise ValueError(
                f"an update needs the version it expects, got {record.version!r}"
            ) from None
        stored = _with_version(record, expected + 1)
        try:
            await self._call(
                self.client.put_item,
                TableName=self.table,
                Item=self._item(stored),
                ConditionExpression="attribute_exists(#n) AND #v = :expected",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={":expected": {"N": str(expected)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except _ConditionFailedError as exc:
            if exc.old_item is None:
                raise LeaseNotFound(f"lease {self.name} not found") from exc
            raise LeaseConflict(
                f"lease {self.name} is at version {exc.old_item.get('version', {}).get('N')}, "
                f"not {expected}"
            ) from exc
        return stored

    async def ensure_table(self) -> None:
        """Create the lease table if missing (PAY_PER_REQUEST); for development and the demo."""
        await asyncio.to_thread(ensure_table, self.client, self.table)

    def _item(self, record: LeaseRecord) -> dict[str, Any]:
        item: dict[str, Any] = {
            HASH_KEY: {"S": self.name},
            "duration": {"N": repr(float(record.lease_duration_s))},
            "transitions": {"N": str(record.transitions)},
            "version": {"N": record.version},
        }
        if record.holder:
            item["holder"] = {"S": record.holder}
        if record.acquire_time is not None:
            item["acquire_time"] = {"S": record.acquire_time.isoformat()}
        if record.renew_time is not None:
            item["renew_time"] = {"S": record.renew_time.isoformat()}
        return item

    async def _call(self, method: Any, **kwargs: Any) -> dict[str, Any]:
        """Run one boto3 call off the event loop, translating failures to the contract's errors."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response: dict[str, Any] = await asyncio.to_thread(method, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ConditionalCheckFailedException":
                raise _ConditionFailedError(exc.response.get("Item")) from exc
            raise LeaseBackendError(
                f"lease {self.name}: {error.get('Code')}: {error.get('Message')}"
            ) from exc
        except (BotoCoreError, OSError) as exc:
            raise LeaseBackendError(f"lease {self.name}: {type(exc).__name__}: {exc}") from exc
        return response


class _ConditionFailedError(Exception):
    """Internal: a condition failed; `old_item` is the item as it was (None: it did not exist)."""

    def __init__(self, old_item: dict[str, Any] | None) -> None:
        super().__init__("conditional check failed")
        self.old_item = old_item


def ensure_table(client: Any, table: str) -> None:
    """Create the lease table (hash key `name`) unless it exists; wait for it."""
    ensure_dynamodb_table(client, table, HASH_KEY)


def _with_version(record: LeaseRecord, version: int) -> LeaseRecord:
    return replace(record, version=str(version))


def _time(item: dict[str, Any], key: str) -> datetime | None:
    value = item.get(key)
    return datetime.fromisoformat(value["S"]) if value else None


def _record(item: dict[str, Any]) -> LeaseRecord:
    holder = item.get("holder")
    return LeaseRecord(
        holder=holder["S"] or None if holder else None,
        lease_duration_s=float(item["duration"]["N"]),
        acquire_time=_time(item, "acquire_time"),
        renew_time=_time(item, "renew_time"),
        transitions=int(item["transitions"]["N"]),
        version=item["version"]["N"],
    )
