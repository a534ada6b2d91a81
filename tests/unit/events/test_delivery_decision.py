"""Which events are news for their message: published and recorded, or held back."""

from __future__ import annotations

import pytest

from session_runner.events.delivery import (
    DELIVERY,
    LEDGER_STATE,
    UNKNOWN,
    Decision,
    Recorded,
    decide,
    recorded_from_item,
)
from session_runner.sender.ledger_decision import LedgerState
from session_runner.session.engines.events import AckStatus

S, D, R, F = AckStatus.SENT, AckStatus.DELIVERED, AckStatus.READ, AckStatus.FAILED
NEWS = Decision(publish=True, record=True)
OLD = Decision(publish=False, record=False)
UNCHECKED = Decision(publish=True, record=False)


def at(status: AckStatus | None) -> Recorded:
    return Recorded(exists=True, status=status)


@pytest.mark.parametrize(
    ("case", "recorded", "incoming", "expected"),
    [
        ("first status", at(None), S, NEWS),
        ("forward", at(S), D, NEWS),
        ("forward past one", at(S), R, NEWS),
        ("delivered then read", at(D), R, NEWS),
        ("the same again (duplicate webhook)", at(D), D, OLD),
        ("late delivery after read", at(R), D, OLD),
        ("late sent after delivered", at(D), S, OLD),
        ("failed after sent", at(S), F, NEWS),
        ("failed is terminal", at(F), R, OLD),
        ("failed twice", at(F), F, OLD),
        ("a message the ledger does not know", UNKNOWN, D, UNCHECKED),
        ("an inbound message", UNKNOWN, None, UNCHECKED),
        ("an inbound message, whatever the ledger", at(R), None, UNCHECKED),
    ],
)
def test_decide(
    case: str, recorded: Recorded, incoming: AckStatus | None, expected: Decision
) -> None:
    assert decide(recorded, incoming) == expected, case


@pytest.mark.parametrize(
    ("case", "item", "expected"),
    [
        ("absent", None, UNKNOWN),
        ("empty", {}, UNKNOWN),
        ("not a message (the rate limiter's item)", {"id": {"S": "ratelimit#a/b"}}, UNKNOWN),
        ("sending, nothing heard", {LEDGER_STATE: {"S": LedgerState.SENDING.value}}, at(None)),
        (
            "sent, delivered",
            {LEDGER_STATE: {"S": "SENT"}, DELIVERY: {"S": "delivered"}},
            at(D),
        ),
        (
            "a status this version does not know holds everything back",
            {LEDGER_STATE: {"S": "SENT"}, DELIVERY: {"S": "reacted"}},
            at(F),
        ),
    ],
)
def test_recorded_from_item(case: str, item: dict[str, object] | None, expected: Recorded) -> None:
    assert recorded_from_item(item) == expected, case
