"""Counting a bulk job's outcomes (sent, delivered, read, failed) exactly once per row.

The counters live in the outbound ledger's table, beside the messages they
count, because every role that learns an outcome already holds that table:
the senders (`sent`, `failed`, from their ledger writes) and whoever forwards
the vendors' and engines' statuses (`delivered`, `read`, through the delivery
ledger). None of them needs to be told where bulk jobs are kept.

`BulkTally.record(message_id, outcome)` is a no-op, without a call to
DynamoDB, for ids that are not a bulk row's (`<bulkJobId>:<row>`). For a row,
one `TransactWriteItems` puts a marker item `bulk-tally#<jobId>:<row>#<outcome>`
(only if absent) and adds 1 to that outcome in the job's item
`bulk-progress#<jobId>`: both or neither. A repeated call (a retry whose answer
was lost, a redelivered status) finds the marker and counts nothing, so the
counters never run ahead of the rows. The `#` keeps these items apart from
message ids, as the rate limiter's `ratelimit#` and the API's `api-message#`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final

from session_runner.bulk.ids import parse_message_id
from session_runner.bulk.model import BulkStoreError
from session_runner.session.engines.events import AckStatus

log = logging.getLogger(__name__)

MARKER_PREFIX: Final = "bulk-tally#"
PROGRESS_PREFIX: Final = "bulk-progress#"


class Outcome(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


#: What a delivery status implies a row went through: a message read was delivered and
#: sent first, though its `delivered` status may never arrive (vendors skip it).
_IMPLIED: Final[Mapping[AckStatus, tuple[Outcome, ...]]] = {
    AckStatus.SENT: (Outcome.SENT,),
    AckStatus.DELIVERED: (Outcome.SENT, Outcome.DELIVERED),
    AckStatus.READ: (Outcome.SENT, Outcome.DELIVERED, Outcome.READ),
    AckStatus.PLAYED: (Outcome.SENT, Outcome.DELIVERED, Outcome.READ),
    AckStatus.FAILED: (Outcome.FAILED,),
}


def implied_outcomes(status: AckStatus) -> tuple[Outcome, ...]:
    """The outcomes a row with delivery status `status` has reached."""
    return _IMPLIED.get(status, ())


def marker_key(message_id: str, outcome: Outcome) -> str:
    return f"{MARKER_PREFIX}{message_id}#{outcome.value}"


def progress_key(job_id: str) -> str:
    return f"{PROGRESS_PREFIX}{job_id}"


def tally_request(table: str, message_id: str, job_id: str, outcome: Outcome) -> dict[str, Any]:
    """The TransactWriteItems arguments counting `outcome` of the row `message_id` once."""
    return {
        "TransactItems": [
            {
                "Put": {
                    "TableName": table,
                    "Item": {"id": {"S": marker_key(message_id, outcome)}},
                    "ConditionExpression": "attribute_not_exists(id)",
                }
            },
            {
                "Update": {
                    "TableName": table,
                    "Key": {"id": {"S": progress_key(job_id)}},
                    "UpdateExpression": "ADD #outcome :one",
                    "ExpressionAttributeNames": {"#outcome": outcome.value},
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ]
    }


def counts_from_item(item: Mapping[str, Any] | None) -> dict[str, int]:
    """The outcome counters of a progress item (0 for those never counted)."""
    item = item or {}
    return {
        outcome.value: int((item.get(outcome.value) or {}).get("N", "0")) for outcome in Outcome
    }


class BulkTally:
    """The bulk jobs' outcome counters in the ledger's `table`, through a boto3 DynamoDB
    client (one without hidden retries: `session_runner.dynamodb.client_config`)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    async def record(self, message_id: str, outcome: Outcome | str) -> bool:
        """Count `outcome` for the row `message_id` is; True when this call counted it. False
        for an id that is no bulk row's, or an outcome already counted. Raises
        BulkStoreError when DynamoDB fails (the call may be repeated)."""
        parsed = parse_message_id(message_id)
        if parsed is None:
            return False
        request = tally_request(self.table, message_id, parsed[0], Outcome(outcome))
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            await asyncio.to_thread(self.client.transact_write_items, **request)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "unknown"))
            if code == "TransactionCanceledException" and _only_conditions(error.response):
                return False
            raise BulkStoreError(f"bulk tally in {self.table}: {code}") from None
        except (BotoCoreError, OSError) as error:
            raise BulkStoreError(f"bulk tally in {self.table}: {type(error).__name__}") from None
        return True

    async def record_quietly(self, message_id: str, outcomes: tuple[Outcome, ...]) -> None:
        """`record` each of `outcomes`, logging rather than raising: the counters are what a
        person follows, the ledger stays the judge, so a failed count must not fail a send
        or a status (it is lost: the progress shows one fewer)."""
        if parse_message_id(message_id) is None:
            return
        for outcome in outcomes:
            try:
                await self.record(message_id, outcome)
            except BulkStoreError as error:
                log.warning("%s: %s not counted", error, outcome.value)

    async def counts(self, job_id: str) -> dict[str, int]:
        """The job's outcome counters (all 0 before the first)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = await asyncio.to_thread(
                self.client.get_item,
                TableName=self.table,
                Key={"id": {"S": progress_key(job_id)}},
                ConsistentRead=True,
            )
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "unknown"))
            raise BulkStoreError(f"bulk progress in {self.table}: {code}") from None
        except (BotoCoreError, OSError) as error:
            raise BulkStoreError(f"bulk progress in {self.table}: {type(error).__name__}") from None
        return counts_from_item(answer.get("Item"))


def _only_conditions(response: dict[str, Any]) -> bool:
    """Whether a cancelled transaction failed only on its condition (counted already), not on
    a conflict or throttle that a retry could get past."""
    reasons = response.get("CancellationReasons") or []
    codes = {str(reason.get("Code", "None")) for reason in reasons}
    return (
        bool(codes)
        and codes <= {"ConditionalCheckFailed", "None"}
        and ("ConditionalCheckFailed" in codes)
    )
