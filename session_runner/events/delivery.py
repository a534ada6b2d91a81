"""How far each outbound message got, kept in its ledger item: sent < delivered < read, failed last.

The ledger item (sender/ledger.py: hash key `id`, our message id) gains:

    delivery (S: sent | delivered | read | failed), delivery_rank (N),
    delivery_at (N, epoch s, when the source says it happened),
    delivery_error_code (S, failed only)

written by one conditional UpdateItem that only moves forward (AckStatus's
order: a later status never gives way to an earlier one that arrives late,
and nothing follows `failed`), and only on an item the sender made (one with
a `state`): a webhook naming an id we never claimed, or another item of the
table (`ratelimit#…`), writes nothing. Repeating a write changes nothing.
The sender's own writes (`SET state …`) leave these attributes alone, so
`wafleet send --wait` can follow a message past SENT to delivered.

`decide` says, per event, whether to publish it and whether to record it.
The record is written *after* the publish, so "recorded" means "published":
a webhook delivered twice is published once, and one whose publish failed
(answered 5xx, so the vendor retries) is published by the retry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from session_runner.events.event import Event
from session_runner.sender.ledger import HASH_KEY, ConditionFailedError, call_dynamodb
from session_runner.sender.message import MESSAGE_ID_PATTERN
from session_runner.session.engines.events import AckStatus

#: The sender's state attribute (sender/ledger.py's item layout; not exported there as a name).
LEDGER_STATE: Final = "state"
DELIVERY: Final = "delivery"
DELIVERY_RANK: Final = "delivery_rank"
DELIVERY_AT: Final = "delivery_at"
DELIVERY_ERROR_CODE: Final = "delivery_error_code"

_OUR_ID = re.compile(MESSAGE_ID_PATTERN)


class DeliveryError(Exception):
    """DynamoDB failed; the message names the table and the error code, nothing else."""


@dataclass(frozen=True)
class Recorded:
    """What the ledger holds for one message id: whether the item exists, and its status."""

    exists: bool
    status: AckStatus | None = None


UNKNOWN: Final = Recorded(exists=False)


@dataclass(frozen=True)
class Decision:
    publish: bool
    record: bool


def decide(recorded: Recorded, incoming: AckStatus | None) -> Decision:
    """Publish and record an event only when it moves its message forward.

    `incoming` None: not a status (an inbound message). An event of a message
    the ledger does not know (sent by someone else, or our id unknown) is
    published, there being nothing to compare it with, and not recorded.
    """
    if incoming is None or not recorded.exists:
        return Decision(publish=True, record=False)
    if incoming.supersedes(recorded.status):
        return Decision(publish=True, record=True)
    return Decision(publish=False, record=False)


def _key(message_id: str) -> dict[str, Any]:
    if not _OUR_ID.match(message_id):
        raise ValueError("not a message id (see session_runner.sender.message)")
    return {HASH_KEY: {"S": message_id}}


def recorded_from_item(item: dict[str, Any] | None) -> Recorded:
    """A ledger item (DynamoDB's JSON form) → what it says about delivery; pure."""
    if not item or LEDGER_STATE not in item:
        return UNKNOWN
    value = item.get(DELIVERY, {}).get("S")
    try:
        return Recorded(exists=True, status=AckStatus(value) if value else None)
    except ValueError:  # a status this version does not know: newer than anything it knows
        return Recorded(exists=True, status=AckStatus.FAILED)


class DeliveryLedger:
    """The delivery attributes of the ledger's items in `table` (a boto3 DynamoDB client,
    built with `session_runner.dynamodb.client_config`: no hidden retries)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    async def read(self, message_id: str) -> Recorded:
        """Whether `message_id` has a ledger item, and its delivery status (strongly consistent)."""
        response = await self._call(
            "read",
            self.client.get_item,
            TableName=self.table,
            Key=_key(message_id),
            ConsistentRead=True,
            ProjectionExpression="#state, #delivery",
            ExpressionAttributeNames={"#state": LEDGER_STATE, "#delivery": DELIVERY},
        )
        return recorded_from_item(response.get("Item"))

    async def record(self, message_id: str, event: Event) -> bool:
        """Move the message's delivery status to the event's; False when it is already there
        or further, or the ledger has no such message (nothing written)."""
        status = event.type.ack
        if status is None:
            raise ValueError(f"{event.type.value} is not a delivery status")
        update = "SET #delivery = :status, #rank = :rank, #at = :at"
        values: dict[str, Any] = {
            ":status": {"S": status.value},
            ":rank": {"N": str(status.rank)},
            ":at": {"N": repr(event.at.timestamp())},
        }
        names = {
            "#state": LEDGER_STATE,
            "#delivery": DELIVERY,
            "#rank": DELIVERY_RANK,
            "#at": DELIVERY_AT,
        }
        if status is AckStatus.FAILED and event.error_code:
            update += ", #code = :code"
            values[":code"] = {"S": event.error_code}
            names["#code"] = DELIVERY_ERROR_CODE
        try:
            await self._call(
                "record",
                self.client.update_item,
                TableName=self.table,
                Key=_key(message_id),
                UpdateExpression=update,
                ConditionExpression=(
                    "attribute_exists(#state) AND (attribute_not_exists(#rank) OR #rank < :rank)"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ConditionFailedError:
            return False
        return True

    async def _call(self, operation: str, method: Any, **kwargs: Any) -> dict[str, Any]:
        return await call_dynamodb(
            method, what=f"delivery {self.table} {operation}", error=DeliveryError, **kwargs
        )
