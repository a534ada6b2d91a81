"""The pool's SQS queue as the sender sees it: receive, keep, finish, dead-letter.

Synchronous boto3 behind `asyncio.to_thread`, as every AWS call in the
runner image. Long polling (20 s, batches of 10) keeps an idle pool at three
requests a minute per replica. A receipt handle is the only way to touch a
received message again, so `QueueMessage` carries it next to the body.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

MAX_BATCH: Final = 10  # SQS's limit per ReceiveMessage
LONG_POLL_S: Final = 20  # SQS's longest wait
REASON_ATTRIBUTE: Final = "wafleet-reason"
MAX_REASON_CHARS: Final = 256


@dataclass(frozen=True)
class QueueMessage:
    body: str
    receipt_handle: str
    message_id: str  # SQS's id (not ours: ours is in the body)
    receive_count: int


class PoolQueue:
    """One pool's queue and its dead-letter queue, through a boto3 SQS client."""

    def __init__(self, sqs: Any, url: str, dead_letter_url: str | None = None) -> None:
        self.sqs = sqs
        self.url = url
        self.dead_letter_url = dead_letter_url

    async def receive(
        self, *, max_messages: int = MAX_BATCH, wait_s: int = LONG_POLL_S
    ) -> list[QueueMessage]:
        """Up to `max_messages`, waiting up to `wait_s` for the first."""
        answer = await asyncio.to_thread(
            self.sqs.receive_message,
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(max_messages, MAX_BATCH)),
            WaitTimeSeconds=wait_s,
            AttributeNames=["ApproximateReceiveCount"],
        )
        return [
            QueueMessage(
                body=str(message["Body"]),
                receipt_handle=str(message["ReceiptHandle"]),
                message_id=str(message["MessageId"]),
                receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            )
            for message in answer.get("Messages", [])
        ]

    async def keep(self, message: QueueMessage, seconds: int) -> None:
        """Stay invisible `seconds` longer: a send in progress must not be handed to another."""
        await asyncio.to_thread(
            self.sqs.change_message_visibility,
            QueueUrl=self.url,
            ReceiptHandle=message.receipt_handle,
            VisibilityTimeout=seconds,
        )

    async def release(self, message: QueueMessage, delay_s: int = 0) -> None:
        """Give the message back (visible again after `delay_s`): not sent, try later."""
        await self.keep(message, delay_s)

    async def finish(self, message: QueueMessage) -> None:
        """Delete: its outcome is in the ledger."""
        await asyncio.to_thread(
            self.sqs.delete_message, QueueUrl=self.url, ReceiptHandle=message.receipt_handle
        )

    async def dead_letter(self, message: QueueMessage, reason: str) -> None:
        """Copy to the dead-letter queue with the reason as an attribute, then delete here.

        A copy first: a crash between the two leaves a duplicate in the DLQ,
        never a lost message. The ledger holds the same reason.
        """
        if self.dead_letter_url is None:
            raise RuntimeError("this queue has no dead-letter queue configured")
        await asyncio.to_thread(
            self.sqs.send_message,
            QueueUrl=self.dead_letter_url,
            MessageBody=message.body,
            MessageAttributes={
                REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:MAX_REASON_CHARS]}
            },
        )
        await self.finish(message)
