"""`wafleet send`: one message through a SenderPool, optionally followed to its outcome.

The CLI is a producer like any other: it reads the pool's routing target from
the cluster (the kubeconfig), publishes an `OutboundMessage` to the outbound
topic (boto3: AWS_ENDPOINT_URL, AWS_DEFAULT_REGION and the usual credentials chain)
and, with --wait, polls the ledger until the message is SENT or FAILED.
Publishing twice with one --idempotency-key sends once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from session_runner.contract.resources import pool_path
from session_runner.events.delivery import DeliveryLedger
from session_runner.kube.client import KubeClient
from session_runner.sender.ledger import Ledger
from session_runner.sender.ledger_decision import LedgerEntry, LedgerState
from session_runner.session.engines.events import AckStatus


class SendError(Exception):
    """What stops a send, in words for the terminal (exit 1)."""


#: A pool's Ready reasons that mean its queue cannot take a message (no queue, or a bad spec).
REFUSING_REASONS = frozenset({"InvalidSpec", "QueueUnavailable"})


async def pool_target(client: KubeClient, namespace: str, pool: str) -> str:
    """The pool's spec.target, refusing a pool whose queue cannot take the message.

    A pool whose senders are still starting (Ready False, SendersStarting) takes
    messages: they wait in its queue, which is what the queue is for.
    """
    body = await client.request("GET", pool_path(namespace, pool))
    why = send_refusal(body.get("status") or {})
    if why is not None:
        raise SendError(f"SenderPool {namespace}/{pool} is not ready: {why}")
    return str(body["spec"]["target"])


def send_refusal(status: dict[str, Any]) -> str | None:
    """Why a pool with this status cannot take a message now, or None when it can."""
    ready: dict[str, Any] = next(
        (c for c in status.get("conditions") or () if c.get("type") == "Ready"), {}
    )
    if ready.get("reason") in REFUSING_REASONS:
        return str(ready.get("message") or ready["reason"])
    if not status.get("queueUrl"):
        return "its queue does not exist yet (no status.queueUrl)"
    return None


def topic_arn(sns: Any, name_or_arn: str) -> str:
    """An ARN as given, or the ARN of the topic named so (listing needs no create rights)."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            if str(topic["TopicArn"]).rsplit(":", 1)[-1] == name_or_arn:
                return str(topic["TopicArn"])
    raise SendError(f"no SNS topic named {name_or_arn} (is the operator's outbound configured?)")


def describe(entry: LedgerEntry | None) -> str:
    """One line about where a message is."""
    if entry is None:
        return "queued (not picked up yet)"
    if entry.state is LedgerState.SENT:
        return f"sent (vendor id {entry.vendor_message_id})"
    if entry.state is LedgerState.FAILED:
        return f"failed: {entry.reason}"
    return f"sending (attempt {entry.attempts})"


async def follow(
    ledger: Ledger, message_id: str, limit_s: float, poll_s: float = 0.5
) -> LedgerEntry | None:
    """The ledger entry once it is SENT or FAILED, or the last one seen after `limit_s`."""
    deadline = time.monotonic() + limit_s
    entry = await ledger.get(message_id)
    while (entry is None or not entry.terminal) and time.monotonic() < deadline:
        await asyncio.sleep(poll_s)
        entry = await ledger.get(message_id)
    return entry


async def follow_delivery(
    deliveries: DeliveryLedger,
    message_id: str,
    until: AckStatus,
    limit_s: float,
    poll_s: float = 0.5,
) -> AckStatus | None:
    """The message's delivery status once it reached `until` (or failed), or the last one
    seen after `limit_s` (None: no status event arrived). The statuses come from the
    vendor's webhooks and the engines' acks (`session_runner.events`)."""
    deadline = time.monotonic() + limit_s
    status = (await deliveries.read(message_id)).status
    while not reached(status, until) and time.monotonic() < deadline:
        await asyncio.sleep(poll_s)
        status = (await deliveries.read(message_id)).status
    return status


def reached(status: AckStatus | None, until: AckStatus) -> bool:
    """Whether following a message to `until` is over: it got there or further, or failed."""
    return status is not None and (status is AckStatus.FAILED or status.rank >= until.rank)


def aws_failure(error: Exception) -> str:
    """A failed AWS call as one line for a person, with what to set when that is the cause."""
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

    if isinstance(error, NoRegionError):
        return "AWS: no region (set AWS_DEFAULT_REGION, or a profile's region)"
    if isinstance(error, NoCredentialsError):
        return "AWS: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)"
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"AWS: {details.get('Code', 'error')}: {str(details.get('Message', ''))[:200]}"
    return f"AWS: {type(error).__name__}: {str(error)[:200]}"
