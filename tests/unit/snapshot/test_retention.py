"""Retention and GC decisions, as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from session_runner.session.snapshot.retention import (
    SnapshotInfo,
    chunks_to_delete,
    snapshots_to_keep,
)

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def snaps(*hours_ago: float) -> list[SnapshotInfo]:
    """Snapshots taken `hours_ago` (ids sort by time like real ones)."""
    out = []
    for h in hours_ago:
        at = NOW - timedelta(hours=h)
        out.append(SnapshotInfo(f"{at:%Y%m%dT%H%M%S.%f}Z-00", at))
    return out


def ids(infos: list[SnapshotInfo], *indexes: int) -> set[str]:
    return {infos[i].snapshot_id for i in indexes}


S = snaps(0.1, 1, 5, 30, 100)  # newest first

KEEP_TABLE = [
    # keep_last, keep_within_hours, pinned indexes, kept indexes
    (1, None, (), (0,)),
    (2, None, (), (0, 1)),
    (10, None, (), (0, 1, 2, 3, 4)),
    (1, 6, (), (0, 1, 2)),
    (1, 0, (), (0,)),
    (3, 48, (), (0, 1, 2, 3)),
    (1, None, (4,), (0, 4)),
    (2, 2, (3,), (0, 1, 3)),
]


@pytest.mark.parametrize(("keep_last", "within", "pinned", "kept"), KEEP_TABLE)
def test_snapshots_to_keep(
    keep_last: int, within: int | None, pinned: tuple[int, ...], kept: tuple[int, ...]
) -> None:
    keep = snapshots_to_keep(
        S,
        keep_last=keep_last,
        keep_within=None if within is None else timedelta(hours=within),
        now=NOW,
        pinned=[S[i].snapshot_id for i in pinned],
    )
    assert keep == ids(S, *kept)


def test_unknown_pin_is_ignored_and_keep_last_must_be_positive() -> None:
    assert snapshots_to_keep(S, keep_last=1, keep_within=None, now=NOW, pinned=["nope"]) == ids(
        S, 0
    )
    with pytest.raises(ValueError, match="keep_last"):
        snapshots_to_keep(S, keep_last=0, keep_within=None, now=NOW)


GRACE = timedelta(hours=6)

GC_TABLE = [
    # chunk age in hours, referenced by a kept manifest, deleted?
    (100.0, True, False),  # referenced: never
    (0.0, True, False),
    (100.0, False, True),  # unreferenced and settled: collect
    (5.9, False, False),  # unreferenced but fresh: a snapshot in progress may own it
    (6.0, False, False),  # exactly at the boundary: still protected
    (6.1, False, True),
]


@pytest.mark.parametrize(("age_h", "referenced", "deleted"), GC_TABLE)
def test_chunks_to_delete(age_h: float, referenced: bool, deleted: bool) -> None:
    chunks = {"c": NOW - timedelta(hours=age_h)}
    doomed = chunks_to_delete(chunks, {"c"} if referenced else set(), now=NOW, grace=GRACE)
    assert doomed == ({"c"} if deleted else set())
