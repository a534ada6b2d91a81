"""The exactly-once ledger: one DynamoDB item per message id, the rules in `ledger_decision`.

Item (table hash key `id`, a string; message ids never contain '#', so
other keys such as the rate limiter's `ratelimit#<pool>` share the table):

    id, state (SENDING | SENT | FAILED), claimer, claim_expires_at (N, epoch s),
    attempts (N), updated_at (N, epoch s), vendor_message_id?, reason?, token? (N)

Every change is one conditional write, so two replicas racing on one id are
serialised by DynamoDB: a claim of an absent id is conditional on
`attribute_not_exists(id)`, a reclaim on the exact expired claim it read
(claimer and expiry), and extend / record_* / release on still being the
SENDING claimer (and, with a fencing token, on the stored token not being
higher).
Reads are strongly consistent: an eventually consistent one could show an
old claim and turn a live BUSY into a RECLAIM.

boto3 is synchronous; each call runs in a worker thread (`asyncio.to_thread`),
and the client should be built with `client_config()` (bounded calls, no
hidden retries: a retried conditional write whose first attempt landed would
report a false conflict). `record_sent` / `record_failed` are idempotent, so
the caller may repeat one whose answer was lost.

Errors other than a failed condition raise `LedgerError`, whose message names
the operation, the table and DynamoDB's error code only: never request data
(reasons and vendor answers can quote anything) and never the botocore
exception, whose text can carry parameter values.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any, Final, TypeAlias

from session_runner.dynamodb import client_config as client_config
from session_runner.dynamodb import ensure_table as ensure_dynamodb_table
from session_runner.sender.ledger_decision import (
    DEFAULT_MAX_ATTEMPTS,
    ClaimAction,
    ClaimDecision,
    LedgerEntry,
    LedgerState,
    bound_reason,
    decide_claim,
)
from session_runner.sender.message import MESSAGE_ID_PATTERN

__all__ = [
    "HASH_KEY",
    "ClaimOutcome",
    "ConditionFailedError",
    "Ledger",
    "LedgerError",
    "call_dynamodb",
    "client_config",
    "ensure_table",
]

HASH_KEY: Final = "id"
#: A claim re-reads and re-decides after losing a race; a second loss means the item keeps
#: changing under us (it cannot, after someone's claim landed), so this bound is generous.
MAX_CLAIM_RACES: Final = 5

#: What `Ledger.claim` returns: the decision that took effect (a CLAIM/RECLAIM's write landed).
ClaimOutcome: TypeAlias = ClaimDecision

_MESSAGE_ID = re.compile(MESSAGE_ID_PATTERN)
_NAMES: Final = {
    "#id": HASH_KEY,
    "#state": "state",
    "#claimer": "claimer",
    "#expires": "claim_expires_at",
    "#token": "token",
    "#updated": "updated_at",
}


class LedgerError(Exception):
    """DynamoDB failed (unreachable, throttled, missing table ...): the outcome is unknown."""


class ConditionFailedError(Exception):
    """A conditional write was refused; `old_item` is the item as it was (None: absent)."""

    def __init__(self, old_item: dict[str, Any] | None) -> None:
        super().__init__("conditional check failed")
        self.old_item = old_item


async def call_dynamodb(
    method: Any, *, what: str, error: type[Exception], **kwargs: Any
) -> dict[str, Any]:
    """One boto3 DynamoDB call off the event loop.

    A failed condition raises `ConditionFailedError`; anything else `error`
    with `what` and the error code, nothing of the request (`from None`:
    the botocore exception is not chained, its text can quote parameters).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response: dict[str, Any] = await asyncio.to_thread(method, **kwargs)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "unknown"))
        if code == "ConditionalCheckFailedException":
            raise ConditionFailedError(exc.response.get("Item")) from None
        raise error(f"{what}: {code}") from None
    except (BotoCoreError, OSError) as exc:
        raise error(f"{what}: {type(exc).__name__}") from None
    return response


def ensure_table(client: Any, table: str) -> None:
    """Create the ledger's table (hash key `id`) unless it exists; wait for it."""
    ensure_dynamodb_table(client, table, HASH_KEY)


class Ledger:
    """The ledger in `table`, through a boto3 DynamoDB client.

    `clock` is the wall clock claims are written and judged with (epoch
    seconds; replicas compare each other's claims, so not a monotonic one).
    """

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.table = table
        self.max_attempts = max_attempts
        self._clock = clock

    async def ensure_table(self) -> None:
        """Create the table if missing (for development, tests and the demo)."""
        await asyncio.to_thread(ensure_table, self.client, self.table)

    async def get(self, message_id: str) -> LedgerEntry | None:
        """The entry of `message_id` (strongly consistent), None when there is none."""
        response = await self._call(
            "get",
            self.client.get_item,
            TableName=self.table,
            Key=_key(message_id),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _entry(item) if item else None

    async def claim(
        self, message_id: str, claimer: str, lease_s: float, *, token: int | None = None
    ) -> ClaimOutcome:
        """`decide_claim`, and write the claim conditionally; re-decide on a lost race.

        The first decision assumes there is no entry (a new id: one write, no
        read); a refused write returns the stored entry and the decision is
        made again on it.

        CLAIM / RECLAIM are returned only once their write landed: the entry
        is then ours until `entry.claim_expires_at` (keep it with `extend`).
        BUSY, DONE and FENCED write nothing. Raises LedgerError on DynamoDB
        failure, or when the item kept changing for `MAX_CLAIM_RACES` reads.
        """
        # Most ids are new: try the claim of an absent entry first. When the entry exists
        # the refused write returns it as stored (as fresh as a consistent read), and the
        # decision is made again on it: one round trip for a new id instead of two.
        _key(message_id)  # refuses what is not a message id before anything is written
        current: LedgerEntry | None = None
        for _ in range(MAX_CLAIM_RACES):
            decision = decide_claim(
                current,
                self._clock(),
                message_id=message_id,
                claimer=claimer,
                lease_s=lease_s,
                token=token,
                max_attempts=self.max_attempts,
            )
            try:
                if decision.action is ClaimAction.CLAIM:
                    await self._put_new(decision.entry)
                elif decision.action is ClaimAction.RECLAIM:
                    assert decision.previous is not None
                    await self._put_over(decision.entry, decision.previous, token)
            except ConditionFailedError as refused:
                current = _entry(refused.old_item) if refused.old_item else None
                if current is None:  # no item returned: read it
                    current = await self.get(message_id)
                continue
            return decision
        raise LedgerError(f"ledger {self.table} claim: the entry kept changing (contention)")

    async def extend(self, message_id: str, claimer: str, lease_s: float) -> bool:
        """Move our claim's expiry to now + `lease_s`; False when the claim is no longer ours.

        Safe even after the claim expired, as long as nobody reclaimed it: a
        reclaim is conditional on the exact expiry it read, so one of the two
        writes fails.
        """
        if lease_s <= 0:
            raise ValueError(f"lease_s must be positive, got {lease_s}")
        now = self._clock()
        try:
            await self._call(
                "extend",
                self.client.update_item,
                TableName=self.table,
                Key=_key(message_id),
                UpdateExpression="SET #expires = :expires, #updated = :now",
                ConditionExpression="#state = :sending AND #claimer = :me",
                ExpressionAttributeNames=_names("#state", "#claimer", "#expires", "#updated"),
                ExpressionAttributeValues={
                    ":expires": _number(now + lease_s),
                    ":now": _number(now),
                    ":sending": {"S": LedgerState.SENDING.value},
                    ":me": {"S": claimer},
                },
            )
        except ConditionFailedError:
            return False
        return True

    async def record_sent(
        self, message_id: str, claimer: str, vendor_message_id: str, *, token: int | None = None
    ) -> bool:
        """SENDING → SENT with the vendor's id; False when the claim is no longer ours (or a
        higher token wrote the entry). Repeating a landed call returns True."""
        if not vendor_message_id:
            raise ValueError("record_sent needs the vendor's message id")
        return await self._finish(
            message_id,
            claimer,
            LedgerState.SENT,
            "vendor_message_id",
            vendor_message_id,
            token,
        )

    async def record_failed(
        self, message_id: str, claimer: str, reason: str, *, token: int | None = None
    ) -> bool:
        """SENDING → FAILED with `reason` (cut to MAX_REASON_CHARS); False when the claim is
        no longer ours (or a higher token wrote the entry). Repeating a landed call returns
        True."""
        return await self._finish(
            message_id, claimer, LedgerState.FAILED, "reason", bound_reason(reason), token
        )

    async def release(self, message_id: str, claimer: str, *, token: int | None = None) -> bool:
        """Give up our claim on a message the vendor *definitely* did not take (a refused
        connection, a throttle, an error code that says so): the entry goes, so the next
        receive claims it afresh instead of asking the vendor. False when the claim is no
        longer ours. Never for a send that may have landed: that claim must expire and be
        reclaimed (`ledger_decision`), which asks the vendor first."""
        condition = "#state = :sending AND #claimer = :me"
        values: dict[str, Any] = {
            ":sending": {"S": LedgerState.SENDING.value},
            ":me": {"S": claimer},
        }
        names = _names("#state", "#claimer")
        if token is not None:
            condition += " AND (attribute_not_exists(#token) OR #token <= :token)"
            values[":token"] = {"N": str(token)}
            names["#token"] = _NAMES["#token"]
        try:
            await self._call(
                "release",
                self.client.delete_item,
                TableName=self.table,
                Key=_key(message_id),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ConditionFailedError:
            return False
        return True

    async def _finish(
        self,
        message_id: str,
        claimer: str,
        state: LedgerState,
        attribute: str,
        value: str,
        token: int | None,
    ) -> bool:
        condition = "#state = :sending AND #claimer = :me"
        update = "SET #state = :final, #value = :value, #updated = :now"
        values: dict[str, Any] = {
            ":final": {"S": state.value},
            ":value": {"S": value},
            ":now": _number(self._clock()),
            ":sending": {"S": LedgerState.SENDING.value},
            ":me": {"S": claimer},
        }
        names = {**_names("#state", "#claimer", "#updated"), "#value": attribute}
        if token is not None:
            condition += " AND (attribute_not_exists(#token) OR #token <= :token)"
            update += ", #token = :token"
            values[":token"] = {"N": str(token)}
            names["#token"] = _NAMES["#token"]
        try:
            await self._call(
                f"record {state.value}",
                self.client.update_item,
                TableName=self.table,
                Key=_key(message_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailedError as refused:
            old = _entry(refused.old_item) if refused.old_item else None
            return (
                old is not None
                and old.state is state
                and old.claimer == claimer
                and getattr(old, attribute) == value
                and (token is None or old.token == token)
            )
        return True

    async def _put_new(self, entry: LedgerEntry) -> None:
        await self._call(
            "claim",
            self.client.put_item,
            TableName=self.table,
            Item=_item(entry),
            ConditionExpression="attribute_not_exists(#id)",
            ExpressionAttributeNames=_names("#id"),
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    async def _put_over(self, entry: LedgerEntry, previous: LedgerEntry, token: int | None) -> None:
        condition = "#state = :sending AND #claimer = :previous AND #expires = :previous_expiry"
        values: dict[str, Any] = {
            ":sending": {"S": LedgerState.SENDING.value},
            ":previous": {"S": previous.claimer},
            ":previous_expiry": _number(previous.claim_expires_at),
        }
        names = _names("#state", "#claimer", "#expires")
        if token is not None:
            condition += " AND (attribute_not_exists(#token) OR #token <= :token)"
            values[":token"] = {"N": str(token)}
            names = _names("#state", "#claimer", "#expires", "#token")
        await self._call(
            "reclaim",
            self.client.put_item,
            TableName=self.table,
            Item=_item(entry),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    async def _call(self, operation: str, method: Any, **kwargs: Any) -> dict[str, Any]:
        return await call_dynamodb(
            method, what=f"ledger {self.table} {operation}", error=LedgerError, **kwargs
        )


def _key(message_id: str) -> dict[str, Any]:
    """The item key; refuses what is not a message id (it could collide with other keys)."""
    if not _MESSAGE_ID.match(message_id):
        raise ValueError("not a message id (see session_runner.sender.message)")
    return {HASH_KEY: {"S": message_id}}


def _names(*placeholders: str) -> dict[str, str]:
    return {placeholder: _NAMES[placeholder] for placeholder in placeholders}


def _number(value: float) -> dict[str, str]:
    """A DynamoDB number that reads back as the same float (repr round-trips)."""
    return {"N": repr(float(value))}


def _item(entry: LedgerEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        HASH_KEY: {"S": entry.message_id},
        "state": {"S": entry.state.value},
        "claimer": {"S": entry.claimer},
        "claim_expires_at": _number(entry.claim_expires_at),
        "attempts": {"N": str(entry.attempts)},
        "updated_at": _number(entry.updated_at),
    }
    if entry.vendor_message_id is not None:
        item["vendor_message_id"] = {"S": entry.vendor_message_id}
    if entry.reason is not None:
        item["reason"] = {"S": entry.reason}
    if entry.token is not None:
        item["token"] = {"N": str(entry.token)}
    return item


def _entry(item: dict[str, Any]) -> LedgerEntry:
    def text(key: str) -> str | None:
        value = item.get(key)
        return str(value["S"]) if value else None

    token = item.get("token")
    return LedgerEntry(
        message_id=item[HASH_KEY]["S"],
        state=LedgerState(item["state"]["S"]),
        claimer=item["claimer"]["S"],
        claim_expires_at=float(item["claim_expires_at"]["N"]),
        attempts=int(item["attempts"]["N"]),
        vendor_message_id=text("vendor_message_id"),
        reason=text("reason"),
        token=int(token["N"]) if token else None,
        updated_at=float(item["updated_at"]["N"]),
    )
