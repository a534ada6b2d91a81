"""The SenderPool finalizer: its subscription and queues go with it.

The Kubernetes children go by owner reference (the garbage collector); the
AWS half needs the operator. A subscription left behind would keep copying
the target's messages into a queue nobody reads, so the finalizer retries
for a while (`DELETE_ATTEMPTS`, backing off) before it lets the pool go with
a Warning that names what is left to delete by hand: a pool must never be
undeletable because AWS is down for an afternoon, and never vanish silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Final

import kopf
from botocore.exceptions import BotoCoreError, ClientError

from wafleet_operator.outbound import aws
from wafleet_operator.outbound.resources import queue_name
from wafleet_operator.reconcile import Context, as_body

from .reconcile import API_VERSION, aws_error_text, outbound_clients
from .session import wiring_patch

DELETE_ATTEMPTS: Final = 10


def delete_retry_delay(attempt: int) -> float | None:
    """Seconds before deletion attempt `attempt + 1`, None once the budget is spent (~8.5 min)."""
    if attempt >= DELETE_ATTEMPTS:
        return None
    return float(min(2**attempt, 120))


async def delete_pool(ctx: Context, body: Mapping[str, Any], *, retry: int) -> None:
    """Take a session pool's wiring off its account, then unsubscribe and delete the pool's
    queues (only those tagged with its uid)."""
    meta = body["metadata"]
    await _unwire_account(ctx, body)
    name = queue_name(ctx.settings.outbound_queue_prefix, meta["namespace"], meta["name"])
    clients = outbound_clients(ctx)

    def delete() -> None:
        topic = aws.ensure_topic(clients.sns, ctx.settings.outbound_topic)
        aws.delete_pool_queues(
            clients.sqs, clients.sns, topic_arn=topic, name=name, uid=meta["uid"]
        )

    try:
        await asyncio.to_thread(delete)
    except (ClientError, BotoCoreError) as error:
        why = aws_error_text(error)
        delay = delete_retry_delay(retry + 1)
        if delay is None:
            kopf.warn(
                as_body(body),
                reason="QueuesLeftBehind",
                message=f"gave up deleting queue {name} and {name}-dlq after "
                f"{DELETE_ATTEMPTS} attempts ({why}); delete them and their subscription by hand",
            )
            return
        raise kopf.TemporaryError(f"deleting queue {name}: {why}", delay=delay) from None


async def _unwire_account(ctx: Context, body: Mapping[str, Any]) -> None:
    """The account's runner stops consuming once its annotation no longer names this pool.
    An API error is raised: kopf retries the deletion, the queues wait for the next try."""
    account_name = ((body.get("spec") or {}).get("accountRef") or {}).get("name")
    if not account_name:
        return
    meta = body["metadata"]
    account = await ctx.kube.get(API_VERSION, "WhatsAppAccount", meta["namespace"], account_name)
    if account is None:
        return
    account_meta = account["metadata"]
    patch = wiring_patch(account_meta.get("annotations") or {}, meta["name"], None)
    if patch is not None:
        await ctx.kube.annotate(
            API_VERSION,
            "WhatsAppAccount",
            meta["namespace"],
            account_name,
            patch,
            resource_version=account_meta.get("resourceVersion"),
        )
