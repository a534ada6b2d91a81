"""New message records of requests arriving together, written in one DynamoDB call.

Every accepted message is recorded with a conditional put (`attribute_not_exists(id)`:
the Idempotency-Key's guard, `records`). One PutItem per request was most of the API's
CPU under load: botocore spends ~1.65 ms of client CPU signing and serialising each
call (cProfile, 2026-12-06), and each was a round trip of its own. Here the records
waiting when a call can start go out together as one TransactWriteItems of up to
MAX_ITEMS puts, each with its own condition; a record alone goes as a plain PutItem
(half the write units of a transactional write).

No timer: a call starts as soon as one of MAX_IN_FLIGHT slots is free, with whatever
waits. At low load that is one record at once, at no added latency; under load the
records arriving while calls are out pile up and leave together.

A transaction is all or nothing. When one record's condition fails (a retry of a
message recorded before, or a concurrent twin), DynamoDB cancels the call and gives a
reason per item, in order: `settle` reads them. That record exists (the stored item
comes back, `ReturnValuesOnConditionCheckFailure=ALL_OLD`); the others were only
bystanders and go again with the next call. Two records of one id never share a call
(DynamoDB refuses a transaction that names an item twice): `next_batch` leaves the
second for a later one, where its condition decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from session_runner.sender.ledger import HASH_KEY

#: Puts per TransactWriteItems (DynamoDB takes 100 and 4 MB; a record is under 1 KB).
MAX_ITEMS: Final = 50
#: Calls out at once (threads of blocking boto3); what waits meanwhile forms the next batch.
MAX_IN_FLIGHT: Final = 4
#: A record that was a bystander this many times (others' conflicts, the item's own
#: concurrent transactions) fails as unavailable; a retry with its key resolves it.
MAX_TRIES: Final = 5

#: DynamoDB's per-item cancellation codes this module acts on.
CONDITION_FAILED: Final = "ConditionalCheckFailed"
NOT_AT_FAULT: Final = "None"
TRANSACTION_CONFLICT: Final = "TransactionConflict"


class Outcome(Enum):
    LANDED = "landed"  # written now
    EXISTS = "exists"  # its condition failed: an item of this id is stored
    AGAIN = "again"  # not written, through no fault of its own: try in the next call
    FAILED = "failed"  # DynamoDB refused it for another reason


@dataclass(frozen=True)
class Settled:
    outcome: Outcome
    #: EXISTS: the stored item (DynamoDB JSON) when DynamoDB returned it
    item: Mapping[str, Any] | None = None
    #: FAILED: DynamoDB's code
    code: str | None = None


def settle(reasons: Sequence[Mapping[str, Any]] | None, count: int) -> list[Settled]:
    """What became of each of `count` puts of one call: `reasons` is None when the call
    succeeded, else the CancellationReasons of its TransactionCanceledException."""
    if reasons is None:
        return [Settled(Outcome.LANDED)] * count
    if len(reasons) != count:  # not an answer about these items: nothing is known per item
        return [Settled(Outcome.FAILED, code="TransactionCanceledException")] * count
    settled = []
    for reason in reasons:
        code = str(reason.get("Code") or NOT_AT_FAULT)
        if code == CONDITION_FAILED:
            settled.append(Settled(Outcome.EXISTS, item=reason.get("Item") or None))
        elif code in (NOT_AT_FAULT, TRANSACTION_CONFLICT):
            settled.append(Settled(Outcome.AGAIN))
        else:
            settled.append(Settled(Outcome.FAILED, code=code))
    return settled


def item_id(item: Mapping[str, Any]) -> str:
    return str(item[HASH_KEY]["S"])


def next_batch(ids: Sequence[str], limit: int) -> list[int]:
    """The positions in `ids` (of the records waiting, in order) that go in the next call:
    in order, at most `limit`, never two of one id."""
    chosen: list[int] = []
    taken: set[str] = set()
    for position, record_id in enumerate(ids):
        if len(chosen) == limit:
            break
        if record_id not in taken:
            taken.add(record_id)
            chosen.append(position)
    return chosen


class RecordBatchError(Exception):
    """The call failed (its outcome unknown) or DynamoDB refused the record: `code` says how."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class _Waiting:
    item: dict[str, Any]
    done: asyncio.Future[Mapping[str, Any] | None]
    tries: int = 0


class RecordBatcher:
    """Conditional puts of new items into `table`, batched (see the module docstring).

    `put_new(item)` answers None when the item landed, the stored item (possibly
    empty: DynamoDB did not return it) when one of its id was there, and raises
    RecordBatchError otherwise.
    """

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        max_items: int = MAX_ITEMS,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.client = client
        self.table = table
        self.max_items = max_items
        self.max_in_flight = max_in_flight
        self._waiting: list[_Waiting] = []
        self._calls: set[asyncio.Task[None]] = set()

    async def put_new(self, item: dict[str, Any]) -> Mapping[str, Any] | None:
        done: asyncio.Future[Mapping[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(item, done))
        self._pump()
        return await done

    def _pump(self) -> None:
        # A request that went away before its record left (cancelled) has no record.
        self._waiting = [w for w in self._waiting if not w.done.done()]
        while self._waiting and len(self._calls) < self.max_in_flight:
            chosen = next_batch([item_id(w.item) for w in self._waiting], self.max_items)
            picked = set(chosen)
            batch = [self._waiting[i] for i in chosen]
            self._waiting = [w for i, w in enumerate(self._waiting) if i not in picked]
            task = asyncio.create_task(self._make(batch))
            self._calls.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._calls.discard(task)
        self._pump()

    async def _make(self, batch: list[_Waiting]) -> None:
        try:
            settled = await asyncio.to_thread(self._call, [w.item for w in batch])
        except RecordBatchError as error:
            for waiting in batch:
                _fail(waiting, error.code)
            return
        again: list[_Waiting] = []
        for waiting, outcome in zip(batch, settled, strict=True):
            if waiting.done.done():  # its request went away (cancelled)
                continue
            if outcome.outcome is Outcome.LANDED:
                waiting.done.set_result(None)
            elif outcome.outcome is Outcome.EXISTS:
                waiting.done.set_result(outcome.item or {})
            elif outcome.outcome is Outcome.AGAIN and waiting.tries + 1 < MAX_TRIES:
                waiting.tries += 1
                again.append(waiting)
            else:
                _fail(waiting, outcome.code or TRANSACTION_CONFLICT)
        self._waiting[:0] = again  # first in the next call: they waited longest

    def _call(self, items: list[dict[str, Any]]) -> list[Settled]:
        """One blocking call for `items` (run in a thread)."""
        from botocore.exceptions import BotoCoreError, ClientError

        condition = {
            "ConditionExpression": "attribute_not_exists(#id)",
            "ExpressionAttributeNames": {"#id": HASH_KEY},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            if len(items) == 1:
                self.client.put_item(TableName=self.table, Item=items[0], **condition)
            else:
                self.client.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": self.table, "Item": item, **condition}}
                        for item in items
                    ]
                )
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "unknown"))
            if code == "ConditionalCheckFailedException" and len(items) == 1:
                return [Settled(Outcome.EXISTS, item=error.response.get("Item") or None)]
            if code == "TransactionCanceledException":
                return settle(error.response.get("CancellationReasons"), len(items))
            raise RecordBatchError(code) from None
        except (BotoCoreError, OSError) as error:
            raise RecordBatchError(type(error).__name__) from None
        return settle(None, len(items))


def _fail(waiting: _Waiting, code: str) -> None:
    if not waiting.done.done():
        waiting.done.set_exception(RecordBatchError(code))
