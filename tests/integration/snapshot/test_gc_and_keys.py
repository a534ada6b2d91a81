"""Garbage collection keeps everything a kept manifest references; keys rotate readably."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from session_runner.session.lease.fencing import FencedOutError
from session_runner.session.snapshot.crypto import DataKey, KeyRing, key_id
from session_runner.session.snapshot.gc import collect_garbage
from session_runner.session.snapshot.manifest import utcnow
from session_runner.session.snapshot.restore import RestoreError
from session_runner.session.snapshot.snapshotter import (
    account_data_key,
    restore_latest,
    take_snapshot,
)
from session_runner.session.snapshot.store import SnapshotStore
from tests.integration.snapshot.conftest import KEK1, KEK2, Bucket, tree, write

LATER = timedelta(days=1)


def referenced(store: SnapshotStore) -> set[str]:
    return {
        c.id
        for sid in store.list_snapshot_ids()
        for f in store.get_manifest(sid).files
        for c in f.chunks
    }


async def test_gc_keeps_referenced_and_fresh_chunks(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    session = tmp_path / "s"
    ids = []
    for version in range(3):
        write(session, "local-session.json", f'{{"v": {version}}}'.encode() * 1000)
        ids.append((await take_snapshot(session, "local", 1, store, keyring)).id)
    # an orphan chunk, as a snapshot in progress leaves before its manifest is written
    key = account_data_key(store, keyring)
    orphan = key.chunk_id(b"\0" * 32)
    store.put_chunk(orphan, key.seal_chunk(b"in progress", orphan))

    # right now everything is within the grace period: manifests go, no chunk does
    result = collect_garbage(store, token=1, keep_last=1)
    assert result.kept == [ids[-1]]
    assert result.deleted_snapshots == ids[:2]
    assert result.deleted_chunks == 0
    assert orphan in store.list_chunks()

    # a day later: the unreferenced chunks go, the referenced ones never
    result = collect_garbage(store, token=1, keep_last=1, now=utcnow() + LATER)
    assert result.deleted_chunks == 3  # two old versions and the orphan
    assert set(store.list_chunks()) == referenced(store)
    restored = await restore_latest(tmp_path / "r", store, keyring)
    assert restored is not None
    assert restored.snapshot_id == ids[-1]
    assert tree(tmp_path / "r") == tree(session)


async def test_gc_keeps_the_pointer_snapshot_and_a_time_window(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    session = tmp_path / "s"
    ids = []
    for version in range(3):
        write(session, "local-session.json", f'{{"v": {version}}}'.encode())
        ids.append((await take_snapshot(session, "local", 1, store, keyring)).id)
    store.move_pointer(ids[0], 1)  # e.g. an operator rolled back
    result = collect_garbage(store, token=1, keep_last=1, now=utcnow() + LATER)
    assert result.kept == [ids[0], ids[2]]
    assert set(store.list_chunks()) == referenced(store)
    result = collect_garbage(store, token=1, keep_last=1, keep_within=timedelta(hours=48))
    assert result.kept == [ids[0], ids[2]]


async def test_gc_keeps_the_snapshot_the_spec_names(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    """spec.restoreFrom names an old snapshot: retention must not collect it, or the
    restore it asks for (after a restart, or still pending) fails for good."""
    session = tmp_path / "s"
    ids = []
    for version in range(3):
        write(session, "local-session.json", f'{{"v": {version}}}'.encode())
        ids.append((await take_snapshot(session, "local", 1, store, keyring)).id)
    result = collect_garbage(store, token=1, keep_last=1, now=utcnow() + LATER, named=[ids[0]])
    assert result.kept == [ids[0], ids[2]]
    restored = await restore_latest(tmp_path / "r", store, keyring, restore_from=ids[0])
    assert restored is not None
    assert restored.snapshot_id == ids[0]
    # Once the spec no longer names it, it goes like any other.
    assert collect_garbage(store, token=1, keep_last=1, now=utcnow() + LATER).kept == [ids[2]]


async def test_a_fenced_runner_collects_nothing(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    write(tmp_path / "s", "local-session.json", b"{}")
    await take_snapshot(tmp_path / "s", "local", 7, store, keyring)
    with pytest.raises(FencedOutError):
        collect_garbage(store, token=6, keep_last=1, now=utcnow() + LATER)


async def test_key_rotation_keeps_old_snapshots_readable(
    tmp_path: Path, store: SnapshotStore, bucket: Bucket
) -> None:
    session = tmp_path / "s"
    write(session, "local-session.json", b'{"under": "kek1"}')
    old = await take_snapshot(session, "local", 1, store, KeyRing(KEK1))
    rotated = KeyRing(KEK2, (KEK1,))
    write(session, "local-session.json", b'{"under": "kek2"}')
    new = await take_snapshot(session, "local", 1, store, rotated)
    assert store.get_manifest(old.id).key_id == key_id(KEK1)
    assert store.get_manifest(new.id).key_id == key_id(KEK2)
    assert sorted(k.rsplit("/", 1)[1] for k in bucket.keys(store.prefix + "keys/")) == sorted(
        [f"{key_id(KEK1)}.json", f"{key_id(KEK2)}.json"]
    )

    restored = await restore_latest(tmp_path / "r", store, rotated, restore_from=old.id)
    assert restored is not None
    assert restored.snapshot_id == old.id
    assert (tmp_path / "r" / "local-session.json").read_bytes() == b'{"under": "kek1"}'
    restored = await restore_latest(tmp_path / "r", store, rotated)
    assert restored is not None
    assert restored.snapshot_id == new.id

    # without the old KEK the old snapshot is unreadable, and says so
    with pytest.raises(RestoreError, match="no key-encryption key"):
        await restore_latest(tmp_path / "r2", store, KeyRing(KEK2), restore_from=old.id)


async def test_the_data_key_is_created_once_per_kek(store: SnapshotStore, keyring: KeyRing) -> None:
    first = account_data_key(store, keyring)
    again = account_data_key(store, keyring)
    assert first.dek == again.dek
    assert isinstance(first, DataKey)
