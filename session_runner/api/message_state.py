"""A message's state and history from what is stored about it. Pure.

Three sources, each optional: the API's record (`records.MessageRecord`:
accepted, when), the sender's ledger entry (`sender.ledger_decision.LedgerEntry`:
SENDING, SENT or FAILED with a reason) and the delivery attributes the
vendors' webhooks and the engines' acks wrote (`records.DeliveryFacts`:
sent, delivered, read, played or failed with an error code).

The state is the furthest fact: a delivery status beats the ledger (a
receipt proves the message arrived, even when the ledger had to record
"outcome unknown"), the ledger beats the record, and a record alone is
"queued". Nothing at all: the message is unknown (None).

The history lists every step the message went through, in order, with the
time it happened where one is stored: the ledger and the delivery attributes
keep only their latest step's time, so steps passed on the way (a message
now `read` was `delivered` first) carry none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from session_runner.api.records import DeliveryFacts, MessageRecord
from session_runner.sender.ledger_decision import LedgerEntry, LedgerState
from session_runner.session.engines.events import AckStatus


class MessageState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"


_FROM_ACK = {
    AckStatus.SENT: MessageState.SENT,
    AckStatus.DELIVERED: MessageState.DELIVERED,
    AckStatus.READ: MessageState.READ,
    AckStatus.PLAYED: MessageState.PLAYED,
    AckStatus.FAILED: MessageState.FAILED,
}
#: The delivery steps in order (failed is not one: it ends the history wherever it happens).
_DELIVERY_STEPS = (AckStatus.SENT, AckStatus.DELIVERED, AckStatus.READ, AckStatus.PLAYED)


@dataclass(frozen=True)
class Step:
    state: MessageState
    at: datetime | None = None


@dataclass(frozen=True)
class Summary:
    state: MessageState
    reason: str | None
    history: tuple[Step, ...]


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


def summarize(
    record: MessageRecord | None, entry: LedgerEntry | None, delivery: DeliveryFacts | None
) -> Summary | None:
    """The message's state, the failure's reason (the vendor's, or the sender's), and the
    steps it went through; None when nothing is known of it."""
    if record is None and entry is None and delivery is None:
        return None
    steps: list[Step] = [Step(MessageState.QUEUED, _when(record.created_at if record else None))]
    reason: str | None = None
    if entry is not None or delivery is not None:
        sending_at = entry.updated_at if entry and entry.state is LedgerState.SENDING else None
        steps.append(Step(MessageState.SENDING, _when(sending_at)))
    if entry is not None and entry.state is LedgerState.SENT:
        steps.append(Step(MessageState.SENT, _when(entry.updated_at)))
    reached = delivery.status if delivery and delivery.status is not AckStatus.FAILED else None
    for ack in _DELIVERY_STEPS:
        if reached is None or ack.rank > reached.rank:
            break
        at = _when(delivery.at) if delivery and ack is reached else None
        state = _FROM_ACK[ack]
        if steps[-1].state is state:  # the ledger's SENT, now with the receipt's time
            steps[-1] = Step(state, steps[-1].at or at)
        else:
            steps.append(Step(state, at))
    if delivery is not None and delivery.status is AckStatus.FAILED:
        reason = delivery.error_code or (entry.reason if entry else None) or "failed"
        steps.append(Step(MessageState.FAILED, _when(delivery.at)))
    elif reached is None and entry is not None and entry.state is LedgerState.FAILED:
        reason = entry.reason or "failed"
        steps.append(Step(MessageState.FAILED, _when(entry.updated_at)))
    return Summary(state=steps[-1].state, reason=reason, history=tuple(steps))


def message_fields(
    message_id: str, summary: Summary, record: MessageRecord | None, entry: LedgerEntry | None
) -> dict[str, object]:
    """The fields of a message's answer besides its history: the API's `Message` and the
    CLI's direct `MessageView` are both built from these, so they cannot drift apart."""
    return {
        "id": message_id,
        "state": summary.state,
        "reason": summary.reason,
        "target": record.target if record else None,
        "account": record.account if record else None,
        "to": record.to if record else None,
        "created_at": datetime.fromtimestamp(record.created_at, UTC) if record else None,
        "vendor_message_id": entry.vendor_message_id if entry else None,
        "attempts": entry.attempts if entry else None,
    }
