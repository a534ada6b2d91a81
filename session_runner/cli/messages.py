"""`wafleet messages show ID` and `wafleet send --api ... --wait`: where a message is. Pure.

Both ways of looking end in one `MessageView`, the shape of the API's
`GET /v1/messages/{id}` answer: parsed from that answer (`--api`), or built
from DynamoDB directly with the API's own pure `message_state.summarize`
(`from_summary`), so the two print the same lines for the same message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict

from session_runner.api.message_state import MessageState, Summary, message_fields
from session_runner.api.records import MessageRecord
from session_runner.sender.ledger_decision import LedgerEntry


class HistoryView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    state: MessageState
    at: datetime | None = None


class MessageView(BaseModel):
    """A message's state and history, as `GET /v1/messages/{id}` answers it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    state: MessageState
    reason: str | None = None
    target: str | None = None
    account: str | None = None
    to: str | None = None
    created_at: datetime | None = None
    vendor_message_id: str | None = None
    attempts: int | None = None
    history: tuple[HistoryView, ...] = ()


def from_summary(
    message_id: str, summary: Summary, record: MessageRecord | None, entry: LedgerEntry | None
) -> MessageView:
    """The view of a message read from DynamoDB (as the API builds its answer)."""
    return MessageView.model_validate(
        {
            **message_fields(message_id, summary, record, entry),
            "history": tuple(HistoryView(state=step.state, at=step.at) for step in summary.history),
        }
    )


def describe(view: MessageView) -> str:
    """Where the message is, in a few words."""
    state = view.state
    if state is MessageState.QUEUED:
        return "queued (not picked up yet)"
    if state is MessageState.SENDING:
        attempt = f" (attempt {view.attempts})" if view.attempts else ""
        return f"sending{attempt}"
    if state is MessageState.FAILED:
        return f"failed: {view.reason or 'no reason recorded'}"
    vendor = f" (vendor id {view.vendor_message_id})" if view.vendor_message_id else ""
    return f"{state.value}{vendor}"


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at else ""


def message_lines(view: MessageView) -> list[str]:
    """What `wafleet messages show` prints: the state, what is known of it, the history."""
    lines = [f"{view.id}: {describe(view)}"]
    facts = (
        ("to", view.to),
        ("target", view.target),
        ("account", view.account),
        ("created", _when(view.created_at)),
        ("attempts", str(view.attempts) if view.attempts is not None else None),
    )
    lines += [f"  {name:<9} {value}" for name, value in facts if value]
    if view.history:
        lines.append("  history")
        for step in view.history:
            lines.append(f"    {step.state.value:<10} {_when(step.at)}".rstrip())
    return lines


class Goal(StrEnum):
    """How far `--wait --until` follows a message."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"


#: The states in the order a message moves through them (failed ends it anywhere).
_ORDER: Final = (
    MessageState.QUEUED,
    MessageState.SENDING,
    MessageState.SENT,
    MessageState.DELIVERED,
    MessageState.READ,
    MessageState.PLAYED,
)


def wait_verdict(state: MessageState, goal: Goal) -> bool | None:
    """Whether following a message to `goal` is over: True when it got there (or further),
    False when it failed, None to keep following."""
    if state is MessageState.FAILED:
        return False
    if _ORDER.index(state) >= _ORDER.index(MessageState(goal.value)):
        return True
    return None
