"""What the API keeps in DynamoDB about the messages it accepted, and reads of the ledger.

One item per accepted message, in `ApiSettings.requests_table` (the ledger's
table by default), hash key `id` = `api-message#<message id>`:

    key_name, body_sha256, target, account?, to, created_at (N, epoch s)

written once with `attribute_not_exists(id)` (the Idempotency-Key's guard,
`idempotency.decide`) and never changed; the records of requests arriving
together share one call (`record_batches`). The
'#' keeps these items apart from the ledger's own (message ids never hold
one). The record is also how `GET /v1/messages/{id}` knows a message that no
sender has picked up yet ("queued"), where it was sent, and which keys may
read it.

The ledger's delivery attributes (`events.delivery`: status, when, the
vendor's error code) are read here too, with a projection, since
`DeliveryLedger.read` answers the status alone.

DynamoDB failures raise `RecordsError`, naming the table, the operation and
DynamoDB's error code only (`sender.ledger.call_dynamodb`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from session_runner.api.record_batches import RecordBatcher, RecordBatchError
from session_runner.events.delivery import (
    DELIVERY,
    DELIVERY_AT,
    DELIVERY_ERROR_CODE,
    LEDGER_STATE,
)
from session_runner.sender.ledger import HASH_KEY, call_dynamodb
from session_runner.session.engines.events import AckStatus

ITEM_PREFIX: Final = "api-message#"


class RecordsError(Exception):
    """DynamoDB failed; the outcome of the call is unknown."""


@dataclass(frozen=True)
class MessageRecord:
    """One message the API accepted."""

    message_id: str
    key_name: str
    body_sha256: str
    target: str
    to: str
    created_at: float
    account: str | None = None


@dataclass(frozen=True)
class DeliveryFacts:
    """How far the message got after the vendor took it (the ledger's delivery attributes)."""

    status: AckStatus
    at: float | None = None
    error_code: str | None = None


def record_key(message_id: str) -> dict[str, Any]:
    return {HASH_KEY: {"S": f"{ITEM_PREFIX}{message_id}"}}


def record_item(record: MessageRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        **record_key(record.message_id),
        "key_name": {"S": record.key_name},
        "body_sha256": {"S": record.body_sha256},
        "target": {"S": record.target},
        "to": {"S": record.to},
        "created_at": {"N": repr(float(record.created_at))},
    }
    if record.account is not None:
        item["account"] = {"S": record.account}
    return item


def record_from_item(item: dict[str, Any]) -> MessageRecord:
    key = str(item[HASH_KEY]["S"])
    account = item.get("account")
    return MessageRecord(
        message_id=key.removeprefix(ITEM_PREFIX),
        key_name=str(item["key_name"]["S"]),
        body_sha256=str(item["body_sha256"]["S"]),
        target=str(item["target"]["S"]),
        to=str(item["to"]["S"]),
        created_at=float(item["created_at"]["N"]),
        account=str(account["S"]) if account else None,
    )


def delivery_from_item(item: dict[str, Any] | None) -> DeliveryFacts | None:
    """The delivery attributes of a ledger item (DynamoDB JSON); None when it has none.
    A status this version does not know reads as `failed`, as `events.delivery` reads it."""
    if not item or LEDGER_STATE not in item:
        return None
    value = item.get(DELIVERY, {}).get("S")
    if not value:
        return None
    try:
        status = AckStatus(value)
    except ValueError:
        status = AckStatus.FAILED
    at = item.get(DELIVERY_AT, {}).get("N")
    code = item.get(DELIVERY_ERROR_CODE, {}).get("S")
    return DeliveryFacts(status=status, at=float(at) if at else None, error_code=code or None)


class MessageRecords:
    """The API's message records in `table`, and the delivery attributes in `ledger_table`,
    through a boto3 DynamoDB client (`session_runner.dynamodb.client_config`)."""

    def __init__(self, client: Any, table: str, ledger_table: str) -> None:
        self.client = client
        self.table = table
        self.ledger_table = ledger_table
        self._new = RecordBatcher(client, table)

    async def get(self, message_id: str) -> MessageRecord | None:
        response = await self._call(
            "get", TableName=self.table, Key=record_key(message_id), ConsistentRead=True
        )
        item = response.get("Item")
        return record_from_item(item) if item else None

    async def put_new(self, record: MessageRecord) -> MessageRecord | None:
        """Record `record` unless its id is recorded; None when it landed, else the record
        already there (as stored). Records of concurrent requests share a call
        (`record_batches`)."""
        try:
            stored = await self._new.put_new(record_item(record))
        except RecordBatchError as error:
            raise RecordsError(f"records {self.table} put: {error.code}") from None
        if stored is None:
            return None
        if stored:
            return record_from_item(dict(stored))
        found = await self.get(record.message_id)
        if found is None:  # deleted in between (by hand): nothing to compare with
            raise RecordsError(f"records {self.table} put: the record vanished")
        return found

    async def delivery(self, message_id: str) -> DeliveryFacts | None:
        response = await self._call(
            "read delivery",
            table=self.ledger_table,
            TableName=self.ledger_table,
            Key={HASH_KEY: {"S": message_id}},
            ConsistentRead=True,
            ProjectionExpression="#state, #delivery, #at, #code",
            ExpressionAttributeNames={
                "#state": LEDGER_STATE,
                "#delivery": DELIVERY,
                "#at": DELIVERY_AT,
                "#code": DELIVERY_ERROR_CODE,
            },
        )
        return delivery_from_item(response.get("Item"))

    async def _call(
        self, operation: str, *, method: str = "get_item", table: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return await call_dynamodb(
            getattr(self.client, method),
            what=f"records {table or self.table} {operation}",
            error=RecordsError,
            **kwargs,
        )
