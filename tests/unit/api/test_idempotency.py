"""Idempotency-Key: the decision table, and the ids and hashes it rests on."""

from __future__ import annotations

import re

import pytest

from session_runner.api.idempotency import (
    IDEMPOTENCY_KEY_PATTERN,
    Action,
    decide,
    message_id_for,
    new_message_id,
    request_hash,
)
from session_runner.sender.message import MESSAGE_ID_PATTERN

H1, H2 = "a" * 64, "b" * 64


@pytest.mark.parametrize(
    ("stored", "incoming", "action"),
    [
        (None, H1, Action.NEW),
        (H1, H1, Action.REPLAY),  # published again: the first publish may have failed
        (H1, H2, Action.CONFLICT),
        (H2, H1, Action.CONFLICT),
    ],
)
def test_decide(stored: str | None, incoming: str, action: Action) -> None:
    assert decide(stored, incoming) is action


@pytest.mark.parametrize("key", ["order-1", "a" * 255, "with spaces inside", "ü-not-ascii", "#:/"])
def test_ids_are_message_ids_stable_and_per_api_key(key: str) -> None:
    first = message_id_for("crm", key)
    assert re.match(MESSAGE_ID_PATTERN, first)
    assert message_id_for("crm", key) == first
    assert message_id_for("billing", key) != first
    assert message_id_for("crm", key + "x") != first


def test_fresh_ids_are_message_ids_and_differ() -> None:
    ids = {new_message_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.match(MESSAGE_ID_PATTERN, i) for i in ids)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"to": "+1", "text": "x", "target": "t"}, {"target": "t", "text": "x", "to": "+1"}, True),
        ({"target": "t", "account": None, "to": "+1"}, {"target": "t", "to": "+1"}, True),
        ({"target": "t", "text": "x"}, {"target": "t", "text": "y"}, False),
        ({"target": "t", "text": "é"}, {"target": "t", "text": "e\u0301"}, False),  # bytes differ
        ({"account": "t", "text": "x"}, {"target": "t", "text": "x"}, False),
    ],
)
def test_request_hash_is_of_the_canonical_body(
    a: dict[str, str | None], b: dict[str, str | None], same: bool
) -> None:
    assert (request_hash(a) == request_hash(b)) is same


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("order-1", True),
        ("a", True),
        ("x" * 255, True),
        ("x" * 256, False),
        (" leading", False),
        ("trailing ", False),
        ("in side", True),
        ("tab\there", False),
        ("", False),
        ("é", False),
    ],
)
def test_idempotency_key_pattern(key: str, ok: bool) -> None:
    assert bool(re.match(IDEMPOTENCY_KEY_PATTERN, key)) is ok


def test_a_name_and_key_cannot_be_shifted_into_each_other() -> None:
    assert message_id_for("ab", "c") != message_id_for("a", "bc")
