"""A message's state and history from its record, ledger entry and delivery facts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from session_runner.api.message_state import MessageState as S
from session_runner.api.message_state import message_fields, summarize
from session_runner.api.records import DeliveryFacts, MessageRecord
from session_runner.sender.ledger_decision import LedgerEntry, LedgerState
from session_runner.session.engines.events import AckStatus

T0, T1, T2 = 1_800_000_000.0, 1_800_000_010.0, 1_800_000_020.0
RECORD = MessageRecord("m", "crm", "h", "alpha", "+14155550123", created_at=T0)


def entry(state: LedgerState, reason: str | None = None) -> LedgerEntry:
    return LedgerEntry("m", state, "sender-a", T1 + 60, 1, "SM1", reason, None, T1)


def delivery(status: AckStatus, code: str | None = None) -> DeliveryFacts:
    return DeliveryFacts(status=status, at=T2, error_code=code)


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@pytest.mark.parametrize(
    ("record", "ledger", "facts", "state", "reason", "history"),
    [
        (RECORD, None, None, S.QUEUED, None, [(S.QUEUED, at(T0))]),
        (
            RECORD,
            entry(LedgerState.SENDING),
            None,
            S.SENDING,
            None,
            [(S.QUEUED, at(T0)), (S.SENDING, at(T1))],
        ),
        (
            RECORD,
            entry(LedgerState.SENT),
            None,
            S.SENT,
            None,
            [(S.QUEUED, at(T0)), (S.SENDING, None), (S.SENT, at(T1))],
        ),
        (
            RECORD,
            entry(LedgerState.FAILED, "outcome unknown"),
            None,
            S.FAILED,
            "outcome unknown",
            [(S.QUEUED, at(T0)), (S.SENDING, None), (S.FAILED, at(T1))],
        ),
        (
            RECORD,
            entry(LedgerState.SENT),
            delivery(AckStatus.SENT),
            S.SENT,
            None,
            [(S.QUEUED, at(T0)), (S.SENDING, None), (S.SENT, at(T1))],
        ),
        (
            RECORD,
            entry(LedgerState.SENT),
            delivery(AckStatus.READ),
            S.READ,
            None,
            [
                (S.QUEUED, at(T0)),
                (S.SENDING, None),
                (S.SENT, at(T1)),
                (S.DELIVERED, None),
                (S.READ, at(T2)),
            ],
        ),
        (
            RECORD,
            entry(LedgerState.SENT),
            delivery(AckStatus.FAILED, "63016"),
            S.FAILED,
            "63016",
            [(S.QUEUED, at(T0)), (S.SENDING, None), (S.SENT, at(T1)), (S.FAILED, at(T2))],
        ),
        (  # a receipt beats "outcome unknown": the message arrived
            RECORD,
            entry(LedgerState.FAILED, "outcome unknown"),
            delivery(AckStatus.DELIVERED),
            S.DELIVERED,
            None,
            [(S.QUEUED, at(T0)), (S.SENDING, None), (S.SENT, None), (S.DELIVERED, at(T2))],
        ),
        (  # the CLI's message: no record, the ledger alone
            None,
            entry(LedgerState.SENT),
            None,
            S.SENT,
            None,
            [(S.QUEUED, None), (S.SENDING, None), (S.SENT, at(T1))],
        ),
        (  # a vendor failure without a code keeps the sender's reason, or says failed
            None,
            entry(LedgerState.SENT),
            DeliveryFacts(status=AckStatus.FAILED),
            S.FAILED,
            "failed",
            [(S.QUEUED, None), (S.SENDING, None), (S.SENT, at(T1)), (S.FAILED, None)],
        ),
        (
            RECORD,
            entry(LedgerState.SENT),
            delivery(AckStatus.PLAYED),
            S.PLAYED,
            None,
            [
                (S.QUEUED, at(T0)),
                (S.SENDING, None),
                (S.SENT, at(T1)),
                (S.DELIVERED, None),
                (S.READ, None),
                (S.PLAYED, at(T2)),
            ],
        ),
    ],
)
def test_summaries(
    record: MessageRecord | None,
    ledger: LedgerEntry | None,
    facts: DeliveryFacts | None,
    state: S,
    reason: str | None,
    history: list[tuple[S, datetime | None]],
) -> None:
    summary = summarize(record, ledger, facts)
    assert summary is not None
    assert (summary.state, summary.reason) == (state, reason)
    assert [(step.state, step.at) for step in summary.history] == history


def test_nothing_known_is_no_message() -> None:
    assert summarize(None, None, None) is None


@pytest.mark.parametrize(
    ("record", "ledger", "expected"),
    [
        (
            RECORD,
            entry(LedgerState.SENT),
            {"target": "alpha", "to": "+14155550123", "created_at": at(T0)}
            | {"vendor_message_id": "SM1", "attempts": 1},
        ),
        (
            None,
            entry(LedgerState.SENT),
            {"target": None, "to": None, "created_at": None}
            | {"vendor_message_id": "SM1", "attempts": 1},
        ),
        (
            RECORD,
            None,
            {"target": "alpha", "to": "+14155550123", "created_at": at(T0)}
            | {"vendor_message_id": None, "attempts": None},
        ),
    ],
)
def test_the_answers_fields_come_from_the_record_and_the_ledger(
    record: MessageRecord | None, ledger: LedgerEntry | None, expected: dict[str, object]
) -> None:
    summary = summarize(record, ledger, None)
    assert summary is not None
    fields = message_fields("m", summary, record, ledger)
    assert {k: fields[k] for k in expected} == expected
    assert (fields["id"], fields["state"]) == ("m", summary.state)
