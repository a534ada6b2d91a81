"""Garbage collection: the I/O shell around `retention`.

Order matters for crash safety: manifests that retention drops are deleted
first, then the chunks no *remaining* manifest references. A crash between
the two leaves unreferenced chunks (collected next time), never a kept
manifest pointing at a missing chunk. GC runs in the lease holder right after
its own snapshot (never concurrently with it) and only while the
latest-pointer's token is not above ours, so a fenced runner deletes nothing:
it plans everything first (lists manifests and chunks), then reads the
pointer again right before each delete call (manifests, chunks, suspect
markers), so a new holder that moved the pointer while GC was planning or
deleting stops it before its next delete. (S3 has no delete conditional on
another object; what remains is the time between one GET and the DELETE
that follows it, and the new holder's in-flight chunks are also protected
by the grace period.)
Suspect markers (`suspect/<chunk id>`) of chunks that are gone, or that GC
just deleted, go too: there is nothing left to repair.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from session_runner.session.lease.fencing import FencedOutError, token_accepts
from session_runner.session.snapshot.manifest import LatestPointer, utcnow
from session_runner.session.snapshot.retention import (
    DEFAULT_GRACE,
    SnapshotInfo,
    chunks_to_delete,
    snapshots_to_keep,
)
from session_runner.session.snapshot.store import SnapshotStore


@dataclass(frozen=True)
class GcResult:
    kept: list[str]
    deleted_snapshots: list[str]
    deleted_chunks: int


def collect_garbage(
    store: SnapshotStore,
    *,
    token: int,
    keep_last: int,
    keep_within: timedelta | None = None,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
    named: Iterable[str] = (),
) -> GcResult:
    """Apply retention to `store`: drop old manifests, then unreferenced, settled chunks.

    `named` are the snapshots the account's spec names (`spec.restoreFrom`): kept
    like the latest, so a restart or a restore still pending never finds it collected.
    """
    moment = now or utcnow()
    pointer = _still_ours(store, token)
    manifests = {sid: store.get_manifest(sid) for sid in store.list_snapshot_ids()}
    keep = snapshots_to_keep(
        [SnapshotInfo(sid, m.created_at) for sid, m in manifests.items()],
        keep_last=keep_last,
        keep_within=keep_within,
        now=moment,
        pinned=[*([pointer.snapshot_id] if pointer else []), *named],
    )
    dropped = sorted(set(manifests) - keep)
    referenced = {
        chunk.id for sid in keep for record in manifests[sid].files for chunk in record.chunks
    }
    uploaded = {cid: obj.last_modified for cid, obj in store.list_chunks().items()}
    doomed = chunks_to_delete(uploaded, referenced, now=moment, grace=grace)
    stale_marks = {c for c in store.list_suspects() if c in doomed or c not in uploaded}
    if dropped:
        _still_ours(store, token)
        store.delete_manifests(dropped)
    if doomed:
        _still_ours(store, token)
        store.delete_chunks(sorted(doomed))
    if stale_marks:
        _still_ours(store, token)
        store.clear_suspects(sorted(stale_marks))
    return GcResult(sorted(keep), dropped, len(doomed))


def _still_ours(store: SnapshotStore, token: int) -> LatestPointer | None:
    """The pointer, unless a holder with a higher token moved it: then FencedOutError."""
    pointer, _ = store.read_pointer()
    if pointer is not None and not token_accepts(pointer.fencing_token, token):
        raise FencedOutError(f"latest-pointer token {pointer.fencing_token} > ours {token}")
    return pointer
