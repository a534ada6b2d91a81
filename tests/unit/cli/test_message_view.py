"""`wafleet messages show` and `send --wait` through the API: one view of a message whether it
came from the API's answer or from DynamoDB directly, and when following it is over."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from session_runner.api.message_state import MessageState, summarize
from session_runner.api.records import DeliveryFacts, MessageRecord
from session_runner.cli.messages import (
    Goal,
    MessageView,
    describe,
    from_summary,
    message_lines,
    wait_verdict,
)
from session_runner.sender.ledger_decision import LedgerEntry, LedgerState
from session_runner.session.engines.events import AckStatus

Q, SG, S, D, R, P, F = (
    MessageState.QUEUED,
    MessageState.SENDING,
    MessageState.SENT,
    MessageState.DELIVERED,
    MessageState.READ,
    MessageState.PLAYED,
    MessageState.FAILED,
)


@pytest.mark.parametrize(
    ("state", "goal", "verdict"),
    [
        (Q, Goal.SENT, None),
        (SG, Goal.SENT, None),
        (S, Goal.SENT, True),
        (D, Goal.SENT, True),  # got further than asked
        (S, Goal.DELIVERED, None),
        (R, Goal.DELIVERED, True),  # a read receipt overtook the delivery receipt
        (D, Goal.READ, None),
        (P, Goal.READ, True),
        (F, Goal.SENT, False),
        (F, Goal.READ, False),
    ],
)
def test_wait_verdict(state: MessageState, goal: Goal, verdict: bool | None) -> None:
    assert wait_verdict(state, goal) is verdict


@pytest.mark.parametrize(
    ("view", "said"),
    [
        (MessageView(id="m", state=Q), "queued (not picked up yet)"),
        (MessageView(id="m", state=SG, attempts=2), "sending (attempt 2)"),
        (MessageView(id="m", state=SG), "sending"),
        (MessageView(id="m", state=S, vendor_message_id="SM1"), "sent (vendor id SM1)"),
        (MessageView(id="m", state=R), "read"),
        (MessageView(id="m", state=F, reason="63016"), "failed: 63016"),
        (MessageView(id="m", state=F), "failed: no reason recorded"),
    ],
)
def test_describe(view: MessageView, said: str) -> None:
    assert describe(view) == said


CREATED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp()


def test_a_direct_read_prints_what_the_api_would_answer() -> None:
    """The view built from DynamoDB's facts (through the API's summarize) equals the one parsed
    from the API's JSON for the same facts, and prints the history in order."""
    record = MessageRecord("api-1", "admin", "h", "alpha", "+14155550123", CREATED)
    entry = LedgerEntry(
        "api-1", LedgerState.FAILED, "s", 0.0, 1, reason="vendor said no", updated_at=CREATED + 5
    )
    delivery = DeliveryFacts(AckStatus.FAILED, at=CREATED + 9, error_code="63016")
    summary = summarize(record, entry, delivery)
    assert summary is not None
    direct = from_summary("api-1", summary, record, entry)
    answered = MessageView.model_validate(
        {
            "id": "api-1",
            "state": "failed",
            "reason": "63016",
            "target": "alpha",
            "account": None,
            "to": "+14155550123",
            "created_at": "2026-11-23T12:00:00Z",
            "vendor_message_id": None,
            "attempts": 1,
            "history": [
                {"state": "queued", "at": "2026-11-23T12:00:00Z"},
                {"state": "sending", "at": None},
                {"state": "failed", "at": "2026-11-23T12:00:09Z"},
            ],
            "extra": "a later API's field is ignored",
        }
    )
    assert direct == answered
    assert message_lines(direct) == [
        "api-1: failed: 63016",
        "  to        +14155550123",
        "  target    alpha",
        "  created   2026-11-23T12:00:00Z",
        "  attempts  1",
        "  history",
        "    queued     2026-11-23T12:00:00Z",
        "    sending",
        "    failed     2026-11-23T12:00:09Z",
    ]


def test_a_message_sent_directly_has_no_record_and_still_shows() -> None:
    entry = LedgerEntry(
        "order-1", LedgerState.SENT, "s", 0.0, 1, vendor_message_id="SM9", updated_at=CREATED
    )
    summary = summarize(None, entry, None)
    assert summary is not None
    lines = message_lines(from_summary("order-1", summary, None, entry))
    assert lines[0] == "order-1: sent (vendor id SM9)"
    assert [line.split()[0] for line in lines[lines.index("  history") + 1 :]] == [
        "queued",
        "sending",
        "sent",
    ]
