"""Each subscription's failure window, shared by every dispatcher replica, in DynamoDB.

One item per subscription generation, in the ledger's table (the one table
the senders and the ingest already use; ids of messages never contain `#`,
so these keys cannot collide with ledger entries):

    id = "webhook-failures#<namespace>/<name>#<generation>"
    failures (L of N: epoch seconds, ascending, at most failuresIn24h + 1)
    version (N, +1 per write), expires_at (N: a day after the last failure)

A failure is recorded with a compare-and-swap on `version` (two replicas
failing at once both count), and the answer is the window after it, from
which `failure_window.over_limit` says whether this very failure tombstones
the subscription. A new generation (a spec change: the resurrection) has a
new key and so an empty window. `expires_at` is there for DynamoDB's TTL:
with it enabled on the table, the windows of deleted subscriptions go away.

Within one replica, failures of one subscription are written together: a dead
subscriber's `concurrency` attempts time out at the same moment, and eight
compare-and-swaps on one item would lose to each other over and over (36
writes where one does). The failures that arrive while a write for the same
window is out join the next one; each caller still gets the window as it was
right after its own failure, as if they had been written one by one.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from session_runner.dispatcher.failure_window import WINDOW_S, recorded
from session_runner.sender.ledger import HASH_KEY, ConditionFailedError, call_dynamodb

KEY_PREFIX: Final = "webhook-failures#"
#: Lost races in a row before giving up (each loss is another replica's failure recorded).
MAX_CONFLICTS: Final = 64


class FailureStoreError(Exception):
    """DynamoDB failed, or the window kept changing for MAX_CONFLICTS tries."""


def window_key(namespace: str, name: str, generation: int) -> str:
    return f"{KEY_PREFIX}{namespace}/{name}#{generation}"


@dataclass
class _Batch:
    """Failures of one window waiting to be written together, in arrival order."""

    at: list[tuple[float, int]] = field(default_factory=list)  # (time, limit)
    done: asyncio.Future[list[tuple[float, ...]]] | None = None


class FailureStore:
    """The failure windows in `table`, through a boto3 DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self._random = random.Random()
        self._waiting: dict[str, _Batch] = {}  # not yet taken by a write
        self._writing: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def window(self, namespace: str, name: str, generation: int) -> tuple[float, ...]:
        """The failures recorded for this generation (strongly consistent read)."""
        failures, _ = await self._read(window_key(namespace, name, generation))
        return failures

    async def record(
        self, namespace: str, name: str, generation: int, at: float, limit: int
    ) -> tuple[float, ...]:
        """Add a failure at `at` and return the window right after it
        (`failure_window.recorded`). Raises FailureStoreError."""
        key = window_key(namespace, name, generation)
        batch = self._waiting.get(key)
        if batch is None:
            batch = self._waiting[key] = _Batch()
            batch.done = asyncio.get_running_loop().create_future()
            task = asyncio.get_running_loop().create_task(self._write_batch(key, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        index = len(batch.at)
        batch.at.append((at, limit))
        assert batch.done is not None
        return (await asyncio.shield(batch.done))[index]

    async def _write_batch(self, key: str, batch: _Batch) -> None:
        assert batch.done is not None
        async with self._writing.setdefault(key, asyncio.Lock()):
            del self._waiting[key]  # from here on, new failures wait for the next write
            try:
                batch.done.set_result(await self._add(key, batch.at))
            except Exception as error:
                batch.done.set_exception(error)
        if not self._writing[key].locked() and key not in self._waiting:
            del self._writing[key]

    async def _add(self, key: str, failures_at: list[tuple[float, int]]) -> list[tuple[float, ...]]:
        """Write `failures_at` into the window with a compare-and-swap; the window after
        each of them."""
        failures, version = await self._read(key)
        for conflicts in range(MAX_CONFLICTS + 1):
            windows = []
            window = failures
            for at, limit in failures_at:
                window = recorded(window, at, limit)
                windows.append(window)
            try:
                await self._write(key, window, version)
            except ConditionFailedError as lost:
                failures, version = _parse(lost.old_item)
                await asyncio.sleep(self._random.uniform(0, 0.002 * 2 ** min(conflicts, 5)))
                continue
            return windows
        raise FailureStoreError(f"failure window {key}: {MAX_CONFLICTS} lost races in a row")

    async def _read(self, key: str) -> tuple[tuple[float, ...], int]:
        response = await call_dynamodb(
            self.client.get_item,
            what=f"failure window {key} read",
            error=FailureStoreError,
            TableName=self.table,
            Key={HASH_KEY: {"S": key}},
            ConsistentRead=True,
        )
        return _parse(response.get("Item"))

    async def _write(self, key: str, window: Sequence[float], version: int) -> None:
        if version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(#id)"}
            names = {"#id": HASH_KEY}
        else:
            condition = {
                "ConditionExpression": "#version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(version)}},
            }
            names = {"#version": "version"}
        await call_dynamodb(
            self.client.put_item,
            what=f"failure window {key} write",
            error=FailureStoreError,
            TableName=self.table,
            Item={
                HASH_KEY: {"S": key},
                "failures": {"L": [{"N": repr(t)} for t in window]},
                "version": {"N": str(version + 1)},
                "expires_at": {"N": str(int(max(window, default=0.0) + WINDOW_S))},
            },
            ExpressionAttributeNames=names,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **condition,
        )


def _parse(item: dict[str, Any] | None) -> tuple[tuple[float, ...], int]:
    if not item:
        return (), 0
    failures = tuple(sorted(float(v["N"]) for v in item.get("failures", {}).get("L", [])))
    return failures, int(item["version"]["N"])
