"""Bulk jobs in DynamoDB: the job item, its per-row error items and its progress markers.

One table, hash key `pk` (the job id) and range key `sk`:

    sk = "job"                      the job: request, state, lock, cursor
    sk = "err#<row, 10 digits>"     one bad row: line, column, problem
    sk = "tally#<row>#<outcome>"    a counted outcome of one row's message (tally.py)

so a job's errors come back in row order from one paginated Query. Jobs that
may need a worker (PENDING, RUNNING) carry `active` = "1", the hash key of the
sparse index `active-jobs` (range key `created_at`): an idle worker finds them
there, oldest first, without scanning errors or markers.

Every write of a lock holder (heartbeat, cursor, finish, fail, release) is
conditional on the holder's owner and fence and on the job still RUNNING;
when it is refused the job is read to tell a cancel from a takeover.
Errors other than a failed condition raise `BulkStoreError` naming the
operation and DynamoDB's error code only (never request data).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from session_runner.bulk.batches import RowError
from session_runner.bulk.cursor import (
    ClaimAction,
    ClaimDecision,
    Cursor,
    Lock,
    decide_claim,
)
from session_runner.bulk.model import BulkJob, BulkProgress, BulkState, BulkStoreError
from session_runner.sender.ledger import ConditionFailedError, call_dynamodb

JOB_SK: Final = "job"
ERROR_PREFIX: Final = "err#"
ACTIVE_INDEX: Final = "active-jobs"
ACTIVE: Final = "1"
#: The outcomes `tally.py` counts in the ledger's table; `counts` is filled from there.
OUTCOMES: Final = ("sent", "delivered", "read", "failed")
#: BatchWriteItem rounds for one batch of error items before giving up.
MAX_WRITE_ROUNDS: Final = 8
ERROR_PAGE: Final = 500


def error_sk(row: int) -> str:
    return f"{ERROR_PREFIX}{row:010d}"


def ensure_bulk_table(client: Any, table: str) -> None:
    """Create the bulk table (pk, sk, the `active-jobs` index) unless it exists; wait for it.
    For development, tests and the demo; in a cluster the operator or the chart makes it."""
    with contextlib.suppress(client.exceptions.ResourceInUseException):
        client.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"}
                for name in ("pk", "sk", "active", "created_at")
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": ACTIVE_INDEX,
                    "KeySchema": [
                        {"AttributeName": "active", "KeyType": "HASH"},
                        {"AttributeName": "created_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {
                        "ProjectionType": "INCLUDE",
                        "NonKeyAttributes": ["state", "lock_expires_at"],
                    },
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})


@dataclass(frozen=True)
class StoredJob:
    """The job item as stored."""

    id: str
    target: str
    text: str
    source: str
    bucket: str
    key: str
    size: int
    etag: str
    state: BulkState
    lock: Lock
    cursor: Cursor
    created_at: datetime
    updated_at: datetime
    total: int | None = None
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def to_model(self) -> BulkJob:
        """What the API shows. `published` is the cursor's valid count: every valid row before
        the cursor was published, and nothing re-published after a takeover counts twice."""
        return BulkJob(
            id=self.id,
            target=self.target,
            text=self.text,
            source=self.source,
            state=self.state,
            progress=BulkProgress(
                total=self.total,
                valid=self.cursor.valid,
                invalid=self.cursor.invalid,
                published=self.cursor.valid,
                **{name: self.counts.get(name, 0) for name in OUTCOMES},
            ),
            error=self.error,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class HolderWrite(StrEnum):
    """What came of a lock holder's conditional write."""

    OK = "OK"
    CANCELLED = "CANCELLED"  # the job was cancelled (or deleted): stop
    LOST = "LOST"  # another worker holds the job now (or it finished): stop


@dataclass(frozen=True)
class ActiveJob:
    """A row of the `active-jobs` index (eventually consistent: claims read the item)."""

    id: str
    state: BulkState
    lock_expires_at: float


class JobStore:
    """The bulk table through a boto3 DynamoDB client (built with `dynamodb.client_config`)."""

    def __init__(self, client: Any, table: str, *, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.table = table
        self._clock = clock

    # -- the job ------------------------------------------------------------------

    async def put_new(self, job: StoredJob) -> None:
        """Record a new job (PENDING, lock free); refused if its id exists."""
        item = {
            "pk": _s(job.id),
            "sk": _s(JOB_SK),
            "target": _s(job.target),
            "text": _s(job.text),
            "source": _s(job.source),
            "bucket": _s(job.bucket),
            "key": _s(job.key),
            "size": _n(job.size),
            "etag": _s(job.etag),
            "state": _s(job.state.value),
            "active": _s(ACTIVE),
            "fence": _n(job.lock.fence),
            "lock_expires_at": _n(job.lock.expires_at),
            "created_at": _s(_iso(job.created_at)),
            "updated_at": _s(_iso(job.updated_at)),
            **_cursor_values(job.cursor),
        }
        await self._call(
            "create",
            self.client.put_item,
            TableName=self.table,
            Item=item,
            ConditionExpression="attribute_not_exists(pk)",
        )

    async def get(self, job_id: str) -> StoredJob | None:
        response = await self._call(
            "get",
            self.client.get_item,
            TableName=self.table,
            Key=_job_key(job_id),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _job(item) if item else None

    async def active(self) -> list[ActiveJob]:
        """Jobs that may need a worker, oldest first."""
        found: list[ActiveJob] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": ACTIVE_INDEX,
            "KeyConditionExpression": "active = :one",
            "ExpressionAttributeValues": {":one": _s(ACTIVE)},
        }
        while True:
            page = await self._call("find active jobs", self.client.query, **kwargs)
            for item in page.get("Items", []):
                found.append(
                    ActiveJob(
                        id=item["pk"]["S"],
                        state=BulkState(item["state"]["S"]),
                        lock_expires_at=float(item.get("lock_expires_at", {"N": "0"})["N"]),
                    )
                )
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def claim(
        self, job_id: str, me: str, lock_s: float
    ) -> tuple[ClaimDecision, StoredJob | None]:
        """`decide_claim` on the job as stored, and the claim written conditionally on the lock
        read (a racing claimer's write fails). The decision that took effect and the job (with
        the new lock after a CLAIM; None when there is no such job)."""
        job = await self.get(job_id)
        if job is None:
            return ClaimDecision(ClaimAction.FINISHED, Lock(None, 0.0, 0)), None
        now = self._clock()
        decision = decide_claim(job.state, job.lock, now, me=me, lock_s=lock_s)
        if decision.action is not ClaimAction.CLAIM:
            return decision, job
        new = decision.lock
        try:
            await self._call(
                "claim",
                self.client.update_item,
                TableName=self.table,
                Key=_job_key(job_id),
                UpdateExpression="SET #state = :running, #owner = :me, #lock = :lock, "
                "#fence = :fence, #updated = :now",
                ConditionExpression="#state = :state AND #fence = :old_fence AND #lock = :old_lock",
                ExpressionAttributeNames={
                    "#state": "state",
                    "#owner": "owner",
                    "#lock": "lock_expires_at",
                    "#fence": "fence",
                    "#updated": "updated_at",
                },
                ExpressionAttributeValues={
                    ":running": _s(BulkState.RUNNING.value),
                    ":me": _s(me),
                    ":lock": _n(new.expires_at),
                    ":fence": _n(new.fence),
                    ":now": _s(_iso(_at(now))),
                    ":state": _s(job.state.value),
                    ":old_fence": _n(job.lock.fence),
                    ":old_lock": _n(job.lock.expires_at),
                },
            )
        except ConditionFailedError:
            current = await self.get(job_id)
            if current is None:
                return ClaimDecision(ClaimAction.FINISHED, Lock(None, 0.0, 0)), None
            return ClaimDecision(ClaimAction.BUSY, current.lock, retry_after_s=0.0), current
        claimed = StoredJob(
            **{**job.__dict__, "state": BulkState.RUNNING, "lock": new, "updated_at": _at(now)}
        )
        return decision, claimed

    async def heartbeat(self, job_id: str, lock: Lock, lock_s: float) -> tuple[HolderWrite, Lock]:
        """Extend our lock to now + `lock_s`; the outcome and the lock as it now stands."""
        now = self._clock()
        extended = Lock(lock.owner, now + lock_s, lock.fence)
        outcome = await self._holder_write(
            "heartbeat",
            job_id,
            lock,
            "SET #lock = :lock, #updated = :now",
            {"#lock": "lock_expires_at", "#updated": "updated_at"},
            {":lock": _n(extended.expires_at), ":now": _s(_iso(_at(now)))},
        )
        return outcome, extended if outcome is HolderWrite.OK else lock

    async def write_cursor(self, job_id: str, lock: Lock, cursor: Cursor) -> HolderWrite:
        names, values, sets = _cursor_update(cursor)
        return await self._holder_write(
            "cursor",
            job_id,
            lock,
            "SET " + ", ".join([*sets, "#updated = :now"]),
            {**names, "#updated": "updated_at"},
            {**values, ":now": _s(_iso(_at(self._clock())))},
        )

    async def finish(self, job_id: str, lock: Lock, cursor: Cursor) -> HolderWrite:
        """DONE: the file was read to its end; `total` is every row counted."""
        names, values, sets = _cursor_update(cursor)
        return await self._holder_write(
            "finish",
            job_id,
            lock,
            "SET "
            + ", ".join([*sets, "#total = :total", "#state = :done", "#updated = :now"])
            + " REMOVE #active, #owner",
            {
                **names,
                "#total": "total",
                "#active": "active",
                "#owner": "owner",
                "#updated": "updated_at",
            },
            {
                **values,
                ":total": _n(cursor.valid + cursor.invalid),
                ":done": _s(BulkState.DONE.value),
                ":now": _s(_iso(_at(self._clock()))),
            },
        )

    async def fail(self, job_id: str, lock: Lock, error: str) -> HolderWrite:
        """FAILED with `error` (what a person reads: never file contents)."""
        return await self._holder_write(
            "fail",
            job_id,
            lock,
            "SET #state = :failed, #error = :error, #updated = :now REMOVE #active, #owner",
            {"#error": "error", "#updated": "updated_at", "#active": "active", "#owner": "owner"},
            {
                ":failed": _s(BulkState.FAILED.value),
                ":error": _s(error[:500]),
                ":now": _s(_iso(_at(self._clock()))),
            },
        )

    async def release(self, job_id: str, lock: Lock) -> HolderWrite:
        """Let go of the lock at once (a stopping worker): a successor need not wait it out."""
        return await self._holder_write(
            "release",
            job_id,
            lock,
            "SET #lock = :zero",
            {"#lock": "lock_expires_at"},
            {":zero": _n(0)},
        )

    async def cancel(self, job_id: str) -> StoredJob | None:
        """CANCELLED unless it already finished (then as it is); None when there is no such job."""
        try:
            response = await self._call(
                "cancel",
                self.client.update_item,
                TableName=self.table,
                Key=_job_key(job_id),
                UpdateExpression="SET #state = :cancelled, #updated = :now REMOVE #active",
                ConditionExpression="#state IN (:pending, :running)",
                ExpressionAttributeNames={
                    "#state": "state",
                    "#updated": "updated_at",
                    "#active": "active",
                },
                ExpressionAttributeValues={
                    ":cancelled": _s(BulkState.CANCELLED.value),
                    ":pending": _s(BulkState.PENDING.value),
                    ":running": _s(BulkState.RUNNING.value),
                    ":now": _s(_iso(_at(self._clock()))),
                },
                ReturnValues="ALL_NEW",
            )
        except ConditionFailedError:  # finished already, or no such job
            return await self.get(job_id)
        return _job(response["Attributes"])

    # -- row errors -----------------------------------------------------------------

    async def put_errors(self, job_id: str, errors: Sequence[RowError]) -> None:
        """Write error items (at most 25), retrying what DynamoDB left unprocessed. A row's item
        is keyed by its row, so writing it again (a successor's rerun) changes nothing."""
        if not errors:
            return
        requests: list[dict[str, Any]] = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": _s(job_id),
                        "sk": _s(error_sk(error.row)),
                        "row": _n(error.row),
                        "line": _n(error.line),
                        "column": _s(error.column),
                        "problem": _s(error.problem),
                    }
                }
            }
            for error in errors
        ]
        for attempt in range(MAX_WRITE_ROUNDS):
            response = await self._call(
                "write row errors",
                self.client.batch_write_item,
                RequestItems={self.table: requests},
            )
            requests = response.get("UnprocessedItems", {}).get(self.table, [])
            if not requests:
                return
            await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
        raise BulkStoreError(f"bulk {self.table} write row errors: unprocessed after retries")

    async def error_pages(
        self, job_id: str, page_size: int = ERROR_PAGE
    ) -> AsyncIterator[list[RowError]]:
        """The job's row errors in row order, a Query page at a time."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :job AND begins_with(sk, :err)",
            "ExpressionAttributeValues": {":job": _s(job_id), ":err": _s(ERROR_PREFIX)},
            "Limit": page_size,
        }
        while True:
            page = await self._call("read row errors", self.client.query, **kwargs)
            yield [
                RowError(
                    row=int(item["row"]["N"]),
                    line=int(item["line"]["N"]),
                    column=item["column"]["S"],
                    problem=item["problem"]["S"],
                )
                for item in page.get("Items", [])
            ]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- plumbing -----------------------------------------------------------------

    async def _holder_write(
        self,
        operation: str,
        job_id: str,
        lock: Lock,
        update: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> HolderWrite:
        try:
            await self._call(
                operation,
                self.client.update_item,
                TableName=self.table,
                Key=_job_key(job_id),
                UpdateExpression=update,
                ConditionExpression="#state = :running_now AND #owner_now = :me AND "
                "#fence_now = :my_fence",
                ExpressionAttributeNames={
                    **names,
                    "#state": "state",
                    "#owner_now": "owner",
                    "#fence_now": "fence",
                },
                ExpressionAttributeValues={
                    **values,
                    ":running_now": _s(BulkState.RUNNING.value),
                    ":me": _s(lock.owner or ""),
                    ":my_fence": _n(lock.fence),
                },
            )
        except ConditionFailedError:
            current = await self.get(job_id)
            if current is None or current.state is BulkState.CANCELLED:
                return HolderWrite.CANCELLED
            return HolderWrite.LOST
        return HolderWrite.OK

    async def _call(self, operation: str, method: Any, **kwargs: Any) -> dict[str, Any]:
        return await call_dynamodb(
            method, what=f"bulk {self.table} {operation}", error=BulkStoreError, **kwargs
        )


# ---------------------------------------------------------------------- items


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def _job_key(job_id: str) -> dict[str, Any]:
    return {"pk": _s(job_id), "sk": _s(JOB_SK)}


def _cursor_values(cursor: Cursor) -> dict[str, Any]:
    return {
        "cursor_offset": _n(cursor.offset),
        "cursor_row": _n(cursor.row),
        "cursor_line": _n(cursor.line),
        "valid": _n(cursor.valid),
        "invalid": _n(cursor.invalid),
    }


def _cursor_update(cursor: Cursor) -> tuple[dict[str, str], dict[str, Any], list[str]]:
    values = _cursor_values(cursor)
    names = {f"#{name}": name for name in values}
    sets = [f"#{name} = :{name}" for name in values]
    return names, {f":{name}": value for name, value in values.items()}, sets


def _number(item: dict[str, Any], name: str, default: float = 0) -> float:
    value = item.get(name)
    return float(value["N"]) if value else default


def _job(item: dict[str, Any]) -> StoredJob:
    def text(name: str) -> str:
        return str(item[name]["S"]) if name in item else ""

    total = item.get("total")
    error = item.get("error")
    return StoredJob(
        id=text("pk"),
        target=text("target"),
        text=text("text"),
        source=text("source"),
        bucket=text("bucket"),
        key=text("key"),
        size=int(_number(item, "size")),
        etag=text("etag"),
        state=BulkState(text("state")),
        lock=Lock(
            owner=text("owner") or None,
            expires_at=_number(item, "lock_expires_at"),
            fence=int(_number(item, "fence")),
        ),
        cursor=Cursor(
            offset=int(_number(item, "cursor_offset")),
            row=int(_number(item, "cursor_row", 1)),
            line=int(_number(item, "cursor_line", 1)),
            valid=int(_number(item, "valid")),
            invalid=int(_number(item, "invalid")),
        ),
        created_at=datetime.fromisoformat(text("created_at")),
        updated_at=datetime.fromisoformat(text("updated_at")),
        total=int(total["N"]) if total else None,
        error=str(error["S"]) if error else None,
    )
