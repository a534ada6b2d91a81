"""Batched record writes: what a call's answer means per record, and which records share
a call."""

from __future__ import annotations

from typing import Any

import pytest

from session_runner.api.record_batches import Outcome, Settled, next_batch, settle

OLD = {"id": {"S": "api-message#m1"}, "body_sha256": {"S": "a" * 64}}


@pytest.mark.parametrize(
    ("reasons", "count", "expected"),
    [
        (None, 3, [Settled(Outcome.LANDED)] * 3),
        (
            [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Item": OLD}, {"Code": "None"}],
            3,
            [Settled(Outcome.AGAIN), Settled(Outcome.EXISTS, item=OLD), Settled(Outcome.AGAIN)],
        ),
        # DynamoDB without the old item (none returned): the caller reads it
        ([{"Code": "ConditionalCheckFailed"}], 1, [Settled(Outcome.EXISTS)]),
        # another transaction on the same item at once: this one may go again
        (
            [{"Code": "TransactionConflict"}, {"Code": "None"}],
            2,
            [Settled(Outcome.AGAIN), Settled(Outcome.AGAIN)],
        ),
        (
            [{"Code": "ThrottlingError", "Message": "slow down"}, {"Code": "None"}],
            2,
            [Settled(Outcome.FAILED, code="ThrottlingError"), Settled(Outcome.AGAIN)],
        ),
        ([{}], 1, [Settled(Outcome.AGAIN)]),  # no code: not at fault
        # reasons that are not about these items: nothing known of any of them
        (
            [{"Code": "None"}],
            2,
            [Settled(Outcome.FAILED, code="TransactionCanceledException")] * 2,
        ),
    ],
)
def test_settle(reasons: list[dict[str, Any]] | None, count: int, expected: list[Settled]) -> None:
    assert settle(reasons, count) == expected


@pytest.mark.parametrize(
    ("ids", "limit", "chosen"),
    [
        ([], 50, []),
        (["a", "b", "c"], 50, [0, 1, 2]),
        (["a", "b", "c"], 2, [0, 1]),
        (["a", "a", "b"], 50, [0, 2]),  # a twin waits for a later call
        (["a", "b", "a", "a", "c"], 3, [0, 1, 4]),
        (["a", "a", "a"], 50, [0]),
    ],
)
def test_next_batch(ids: list[str], limit: int, chosen: list[int]) -> None:
    assert next_batch(ids, limit) == chosen
