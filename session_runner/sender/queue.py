"""The pool's SQS queue as the sender sees it: receive, keep, finish, dead-letter.

Synchronous boto3 behind `asyncio.to_thread`, as every AWS call in the
runner image. Long polling (20 s, batches of 10) keeps an idle pool at three
requests a minute per replica. A receipt handle is the only way to touch a
received message again, so `QueueMessage` carries it next to the body.

Deletes are coalesced (`batching.Coalescer`): `finish` waits until its
message is deleted, but the deletes asked for within `delete_linger_s` (or ten
of them) go out as one DeleteMessageBatch. A message settled in the ledger
and not yet deleted is harmless: if it came back, the ledger would say DONE.
`send_batch` puts up to ten messages in one call for a caller that batches on
its own (the webhook dispatcher packs its retry queue's messages).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

from session_runner.sender.batching import MAX_BATCH, Coalescer

LONG_POLL_S: Final = 20  # SQS's longest wait
REASON_ATTRIBUTE: Final = "wafleet-reason"
MAX_REASON_CHARS: Final = 256
#: How long a delete waits for others to share its DeleteMessageBatch.
DELETE_LINGER_S: Final = 0.05


class DeleteError(Exception):
    """SQS refused to delete one message of a batch; the message names its error code only."""


class SendError(Exception):
    """SQS refused to take a message of a batch; the message names the error codes only."""


@dataclass(frozen=True)
class QueueMessage:
    body: str
    receipt_handle: str
    message_id: str  # SQS's id (not ours: ours is in the body)
    receive_count: int


class PoolQueue:
    """One pool's queue and its dead-letter queue, through a boto3 SQS client."""

    def __init__(
        self,
        sqs: Any,
        url: str,
        dead_letter_url: str | None = None,
        *,
        delete_linger_s: float = DELETE_LINGER_S,
    ) -> None:
        self.sqs = sqs
        self.url = url
        self.dead_letter_url = dead_letter_url
        self._deletes = Coalescer(
            self._delete_batch, delete_linger_s, lambda code: DeleteError(f"delete refused: {code}")
        )

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

    async def renew(self, messages: list[QueueMessage], delay_s: int) -> set[str]:
        """Put a fresh copy of each of `messages` (≤ 10) on this queue in one call, visible
        after `delay_s` (≤ 900): a copy's receive count starts again (`steps.last_receive`).
        Returns the receipt handles of those copied; raises when the call failed."""
        if not messages:
            return set()
        delay = max(0, min(delay_s, 900))
        answer = await asyncio.to_thread(
            self.sqs.send_message_batch,
            QueueUrl=self.url,
            Entries=[
                {"Id": str(n), "MessageBody": message.body, "DelaySeconds": delay}
                for n, message in enumerate(messages)
            ],
        )
        copied = {str(item.get("Id")) for item in answer.get("Successful", [])}
        return {m.receipt_handle for n, m in enumerate(messages) if str(n) in copied}

    def send_batch(self, entries: list[tuple[str, int]]) -> dict[str, Any]:
        """One SendMessageBatch of ≤ 10 (body, delay_s) entries, blocking (call it in a
        thread): SQS's answer, whose `Failed` items name an entry by its index as `Id`.
        For a caller that batches on its own (`send` batches for its callers)."""
        return dict(
            self.sqs.send_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(n), "MessageBody": body, "DelaySeconds": delay}
                    for n, (body, delay) in enumerate(entries)
                ],
            )
        )

    async def release(self, message: QueueMessage, delay_s: int = 0) -> None:
        """Give the message back (visible again after `delay_s`): not sent, try later."""
        await self.keep(message, delay_s)

    async def finish(self, message: QueueMessage) -> None:
        """Delete: its outcome is in the ledger. Returns once SQS deleted it (batched with
        other deletes asked for meanwhile); raises when SQS refused."""
        (done,) = self._deletes.add([message])
        await done

    def _delete_batch(self, messages: list[QueueMessage]) -> dict[str, Any]:
        return dict(
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": message.receipt_handle}
                    for n, message in enumerate(messages)
                ],
            )
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
