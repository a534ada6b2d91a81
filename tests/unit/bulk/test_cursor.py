"""Who may claim a job, when the cursor is written, and how far it may move: table tests."""

from __future__ import annotations

import pytest

from session_runner.bulk.csvstream import Position
from session_runner.bulk.cursor import (
    ClaimAction,
    ClaimDecision,
    Cursor,
    CursorWindow,
    Lock,
    cursor_due,
    decide_claim,
)
from session_runner.bulk.model import BulkState

FREE = Lock(None, 0.0, 0)
HELD = Lock("w-1", 100.0, 3)


@pytest.mark.parametrize(
    ("state", "lock", "now", "expected"),
    [
        pytest.param(
            BulkState.PENDING,
            FREE,
            50.0,
            ClaimDecision(ClaimAction.CLAIM, Lock("me", 80.0, 1)),
            id="pending, never held: claim, fence 1",
        ),
        pytest.param(
            BulkState.RUNNING,
            HELD,
            99.5,
            ClaimDecision(ClaimAction.BUSY, HELD, retry_after_s=0.5),
            id="running, lock live: busy until it expires",
        ),
        pytest.param(
            BulkState.RUNNING,
            HELD,
            100.0,
            ClaimDecision(ClaimAction.CLAIM, Lock("me", 130.0, 4)),
            id="expired at the instant: claim, fence + 1",
        ),
        pytest.param(
            BulkState.RUNNING,
            Lock("me", 100.0, 3),
            60.0,
            ClaimDecision(ClaimAction.BUSY, Lock("me", 100.0, 3), retry_after_s=40.0),
            id="our own live lock is busy too",
        ),
        pytest.param(
            BulkState.PENDING,
            Lock("w-1", 10.0, 7),
            60.0,
            ClaimDecision(ClaimAction.CLAIM, Lock("me", 90.0, 8)),
            id="released lock (pending again is not needed): claim",
        ),
        *[
            pytest.param(
                state,
                FREE,
                50.0,
                ClaimDecision(ClaimAction.FINISHED, FREE),
                id=f"{state.value}: nothing to claim",
            )
            for state in (BulkState.DONE, BulkState.CANCELLED, BulkState.FAILED)
        ],
    ],
)
def test_who_may_claim(state: BulkState, lock: Lock, now: float, expected: ClaimDecision) -> None:
    lock_s = 30.0
    assert decide_claim(state, lock, now, me="me", lock_s=lock_s) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"me": "", "lock_s": 1.0}, "identity"), ({"me": "a", "lock_s": 0}, "lock_s")],
)
def test_a_claim_needs_an_identity_and_a_lock_length(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        decide_claim(BulkState.PENDING, FREE, 0.0, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("batches", "seconds", "expected"),
    [
        pytest.param(0, 99.0, False, id="nothing completed: no write"),
        pytest.param(1, 0.1, False, id="one batch, just now"),
        pytest.param(5, 0.1, True, id="every 5 batches"),
        pytest.param(1, 1.0, True, id="a second passed"),
        pytest.param(7, 0.0, True, id="more than the count"),
    ],
)
def test_when_the_cursor_is_written(batches: int, seconds: float, expected: bool) -> None:
    assert cursor_due(batches, seconds, every_batches=5, every_seconds=1.0) is expected


START = Cursor(offset=10, row=1, line=2)


def end(n: int) -> Cursor:
    return START.after(Position(10 + 100 * n, 2 + n), valid=10 * n, invalid=0)


@pytest.mark.parametrize(
    ("dispatched", "completed", "confirmed", "moves"),
    [
        pytest.param(3, [0], 1, [1], id="the first completes: moves one"),
        pytest.param(3, [1], 0, [0], id="a later one first: nothing moves"),
        pytest.param(3, [2, 1, 0], 3, [0, 0, 3], id="reversed: all at once at the end"),
        pytest.param(4, [1, 0, 3], 2, [0, 2, 0], id="a gap holds the cursor back"),
        pytest.param(2, [], 0, [], id="none completed"),
    ],
)
def test_the_cursor_moves_only_past_a_completed_run(
    dispatched: int, completed: list[int], confirmed: int, moves: list[int]
) -> None:
    window = CursorWindow(START)
    seqs = [window.dispatch(end(n + 1)) for n in range(dispatched)]
    assert seqs == list(range(dispatched))
    assert [window.complete(seq) for seq in completed] == moves
    assert window.confirmed == (end(confirmed) if confirmed else START)
    assert window.in_flight == dispatched - confirmed


def test_a_batch_completes_once() -> None:
    window = CursorWindow(START)
    seq = window.dispatch(end(1))
    window.complete(seq)
    with pytest.raises(ValueError, match="not in flight"):
        window.complete(seq)
    with pytest.raises(ValueError, match="not in flight"):
        window.complete(5)


def test_a_cursor_moves_past_rows_and_counts_them() -> None:
    moved = START.after(Position(500, 9), valid=7, invalid=3)
    assert moved == Cursor(offset=500, row=11, line=9, valid=7, invalid=3)
    assert moved.position == Position(500, 9)
