"""What travels through the outbound topic and queues: one message to one recipient.

The body of the SNS publish (raw delivery, so the SQS message body is this
JSON too). `id` is the message's identity from the producer's request to the
vendor: the producer's idempotency key, or one the producer assigns. The
ledger is keyed by it, the vendor stand-ins count by it, and a redelivered or
duplicated queue message carries the same id, which is what makes a second
send detectable.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from session_runner.contract.outbound import TARGET_ATTRIBUTE, TARGET_PATTERN

__all__ = ["TARGET_ATTRIBUTE", "MessageId", "OutboundMessage", "new_message_id"]

E164_PATTERN: Final = r"^\+[1-9][0-9]{6,14}$"
MESSAGE_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"

MessageId = Annotated[str, StringConstraints(pattern=MESSAGE_ID_PATTERN)]
MAX_TEXT_CHARS: Final = 4096  # WhatsApp's limit for a text message body


class OutboundMessage(BaseModel):
    """One text message to one recipient, routed by `target` to one SenderPool."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: MessageId = Field(description="Idempotency key: one send per id, ever.")
    target: Annotated[str, StringConstraints(pattern=TARGET_PATTERN)] = Field(
        description="The SenderPool route (its spec.target)."
    )
    to: Annotated[str, StringConstraints(pattern=E164_PATTERN)] = Field(
        description="Recipient in E.164."
    )
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)] = Field(
        description="The message body."
    )
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @model_validator(mode="after")
    def _aware(self) -> OutboundMessage:
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must carry a timezone")
        return self

    def to_json(self) -> str:
        """The SNS/SQS body."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, body: str | bytes) -> OutboundMessage:
        """Parse a queue message body; raises pydantic's ValidationError when it is not one."""
        return cls.model_validate_json(body)


def new_message_id() -> str:
    """An id for a producer that gave no idempotency key (then retries of *its* call are not
    de-duplicated: only the queue's redeliveries are)."""
    return f"wf-{uuid.uuid4().hex}"
