"""Pure retention rules: which snapshots to keep, which chunks garbage collection may delete.

Kept: the newest `keep_last` snapshots, those younger than `keep_within`,
and whatever is pinned (the latest-pointer's snapshot, always). A chunk may
be deleted only when no kept manifest references it AND it is older than the
grace period: a snapshot in progress has uploaded chunks that no manifest
references yet (its manifest is written last), and those are all younger
than the grace period as long as a snapshot takes less than it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_GRACE = timedelta(hours=6)


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot_id: str
    created_at: datetime


def snapshots_to_keep(
    snapshots: Iterable[SnapshotInfo],
    *,
    keep_last: int,
    keep_within: timedelta | None,
    now: datetime,
    pinned: Iterable[str] = (),
) -> set[str]:
    """Ids of the snapshots retention keeps (ids sort by creation time)."""
    if keep_last < 1:
        raise ValueError("keep_last must be at least 1: a restore needs a snapshot")
    ordered = sorted(snapshots, key=lambda s: s.snapshot_id, reverse=True)
    keep = {s.snapshot_id for s in ordered[:keep_last]}
    if keep_within is not None:
        keep |= {s.snapshot_id for s in ordered if s.created_at >= now - keep_within}
    known = {s.snapshot_id for s in ordered}
    keep |= {p for p in pinned if p in known}
    return keep


def chunks_to_delete(
    chunks: Mapping[str, datetime],
    referenced: Iterable[str],
    *,
    now: datetime,
    grace: timedelta = DEFAULT_GRACE,
) -> set[str]:
    """Chunk ids (with their upload times) that no kept manifest references and are past grace."""
    live = set(referenced)
    cutoff = now - grace
    return {cid for cid, uploaded in chunks.items() if cid not in live and uploaded < cutoff}
