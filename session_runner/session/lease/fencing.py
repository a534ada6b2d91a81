"""Fencing: storage refuses writes from a runner whose lease has passed to someone else.

The lease alone cannot stop a holder that was frozen (SIGSTOP, a long GC, a
VM pause) past its renew deadline and then wakes up and writes: it has not
yet noticed it lost the lease. So every durable write carries the writer's
fencing token (leaseTransitions at acquisition, `decision.fencing_token`),
and storage keeps the highest token it has accepted and refuses any lower
one. Tokens only grow, since each takeover increments transitions with a
write conditional on the previous version.

The rule, in one place (`token_accepts`), is applied by:

* DynamoDB items: `fenced_put` below (a condition expression);
* S3 snapshot pointers: the snapshot layer's latest-pointer records the token
  and is replaced with If-Match on the ETag it read, after checking
  `token_accepts` against the token in it (compare-and-swap, same rule);
* status reports: the operator ignores a `status.runner` report whose token
  is lower than the one it has recorded.

A runner that gets `FencedOutError` must stop its engine: someone else leads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

DEFAULT_TOKEN_ATTRIBUTE = "fencing_token"


class FencedOutError(Exception):
    """Storage holds a higher fencing token than the writer's: the writer lost the lease."""


def token_accepts(stored: int | None, incoming: int) -> bool:
    """Whether storage that has accepted up to `stored` (None: nothing yet) takes `incoming`.

    Equal tokens pass: one holder writes many times under the same token.
    """
    return stored is None or stored <= incoming


async def fenced_put(
    client: Any,
    table: str,
    key: str,
    item: Mapping[str, Any],
    token: int,
    *,
    token_attribute: str = DEFAULT_TOKEN_ATTRIBUTE,
) -> None:
    """PutItem `item` (low-level attribute values) into `table` unless a higher token wrote it.

    `key` is the table's hash key attribute name; `item` must contain it. The
    item is stored with `token_attribute` set to `token`. DynamoDB evaluates
    `token_accepts` atomically with the write:
    `attribute_not_exists(key) OR token_attribute <= :token`.
    Raises FencedOutError when refused; other botocore errors propagate.
    """
    from botocore.exceptions import ClientError

    if key not in item:
        raise ValueError(f"item lacks its key attribute {key!r}")
    body = {**item, token_attribute: {"N": str(token)}}
    try:
        await asyncio.to_thread(
            client.put_item,
            TableName=table,
            Item=body,
            ConditionExpression="attribute_not_exists(#k) OR #token <= :token",
            ExpressionAttributeNames={"#k": key, "#token": token_attribute},
            ExpressionAttributeValues={":token": {"N": str(token)}},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise FencedOutError(
                f"{table}: an item with key {key}={item[key]!r} has a fencing token above {token}"
            ) from exc
        raise
