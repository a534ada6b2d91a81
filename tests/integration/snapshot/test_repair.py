"""A chunk object corrupt in the store is found, marked, and uploaded again by the next snapshot.

Dedupe trusts the store's chunk listing: without the repair path a broken
object would be referenced by every later snapshot forever. The corruption is
made in the moto server over HTTP (it accepts any bytes: only our own
verification can notice).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from session_runner.contract.layout import chunk_key
from session_runner.session.snapshot.crypto import KeyRing
from session_runner.session.snapshot.gc import collect_garbage
from session_runner.session.snapshot.manifest import utcnow
from session_runner.session.snapshot.restore import VerificationError, verify_snapshot
from session_runner.session.snapshot.snapshotter import (
    SnapshotResult,
    restore_latest,
    take_snapshot,
)
from session_runner.session.snapshot.store import SnapshotStore
from tests.integration.snapshot.conftest import (
    IDB,
    MIB,
    Bucket,
    _Random,
    captured_tree,
    make_profile,
    tree,
    write,
)


def damage(bucket: Bucket, store: SnapshotStore, chunk_id: str, how: str) -> None:
    key = chunk_key(store.prefix, chunk_id)
    blob = bytearray(bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"].read())
    if how == "bit-flip":
        blob[len(blob) // 2] ^= 0x10
    else:
        del blob[len(blob) // 3 :]
    bucket.client.put_object(Bucket=bucket.name, Key=key, Body=bytes(blob))


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def chunk_ids(store: SnapshotStore, snapshot_id: str) -> set[str]:
    return {c.id for f in store.get_manifest(snapshot_id).files for c in f.chunks}


async def two_snapshots(
    session: Path, store: SnapshotStore, keyring: KeyRing
) -> tuple[SnapshotResult, SnapshotResult, str]:
    """An old snapshot, a new one with one more table, and the new table's chunk id."""
    old = await take_snapshot(session, "browser", 1, store, keyring)
    write(session, f"{IDB}/000011.ldb", _Random(11).bytes(MIB + 4321), 0o644)
    new = await take_snapshot(session, "browser", 1, store, keyring)
    fresh = chunk_ids(store, new.id) - chunk_ids(store, old.id)
    assert len(fresh) == 1
    return old, new, fresh.pop()


@pytest.mark.parametrize("how", ["bit-flip", "truncated"])
async def test_corrupt_chunk_is_uploaded_again_by_the_next_snapshot(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing, bucket: Bucket, how: str
) -> None:
    session = make_profile(tmp_path / "session")
    before = captured_tree(session)
    old, new, bad = await two_snapshots(session, store, keyring)
    damage(bucket, store, bad, how)
    corrupt_before = counter("wafleet_snapshot_corrupt_chunks_total")
    repaired_before = counter("wafleet_snapshot_repaired_chunks_total")

    # the restore falls back to the previous snapshot and marks the chunk
    restored = await restore_latest(tmp_path / "fallback", store, keyring)
    assert restored is not None
    assert restored.snapshot_id == old.id
    assert new.id in (restored.warning or "")
    assert tree(tmp_path / "fallback") == before
    assert store.list_suspects() == {bad}
    assert counter("wafleet_snapshot_corrupt_chunks_total") == corrupt_before + 1

    # the session still holds the table: the next snapshot uploads that chunk again
    third = await take_snapshot(session, "browser", 1, store, keyring)
    assert third.chunks_new == 1
    assert third.bytes_uploaded > MIB // 2
    assert bad in chunk_ids(store, third.id)
    assert store.list_suspects() == set()
    assert counter("wafleet_snapshot_repaired_chunks_total") == repaired_before + 1

    # and the new snapshot verifies, as does the one that referenced the broken object
    repaired = await restore_latest(tmp_path / "repaired", store, keyring)
    assert repaired is not None
    assert repaired.snapshot_id == third.id
    assert repaired.warning is None
    assert tree(tmp_path / "repaired") == captured_tree(session)
    again = await restore_latest(tmp_path / "new", store, keyring, restore_from=new.id)
    assert again is not None
    assert again.warning is None
    assert again.snapshot_id == new.id

    # a further snapshot trusts the repaired object again: nothing to upload
    fourth = await take_snapshot(session, "browser", 1, store, keyring)
    assert fourth.bytes_uploaded == 0


async def test_verification_finds_every_bad_chunk_and_one_snapshot_repairs_them(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing, bucket: Bucket
) -> None:
    session = make_profile(tmp_path / "session")
    snap = await take_snapshot(session, "browser", 1, store, keyring)
    ids = sorted(chunk_ids(store, snap.id))
    damage(bucket, store, ids[0], "bit-flip")
    damage(bucket, store, ids[1], "truncated")
    bucket.client.delete_object(Bucket=bucket.name, Key=chunk_key(store.prefix, ids[2]))

    report = verify_snapshot(store, keyring, snap.id)
    assert not report.ok
    assert report.corrupt == ids[:2]
    assert report.missing == [ids[2]]
    assert store.list_suspects() == set(ids[:2])  # a missing chunk is re-uploaded anyway

    fixed = await take_snapshot(session, "browser", 1, store, keyring)
    assert fixed.chunks_new == 3
    assert store.list_suspects() == set()
    assert verify_snapshot(store, keyring, snap.id).ok
    assert verify_snapshot(store, keyring, fixed.id).ok


async def test_a_bad_read_is_not_a_bad_object(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing, bucket: Bucket
) -> None:
    """A chunk that fails to open once but verifies when read again is not marked."""
    session = make_profile(tmp_path / "session")
    snap = await take_snapshot(session, "browser", 1, store, keyring)
    flaky_id = sorted(chunk_ids(store, snap.id))[0]

    class FlakyOnce(SnapshotStore):
        flaked = False

        def get_chunk(self, chunk_id: str) -> bytes:
            blob = super().get_chunk(chunk_id)
            if chunk_id == flaky_id and not self.flaked:
                self.flaked = True
                return blob[:-1] + bytes([blob[-1] ^ 1])
            return blob

    flaky = FlakyOnce(store.client, store.bucket, store.prefix)
    restored = await restore_latest(tmp_path / "r", flaky, keyring)
    assert flaky.flaked
    assert restored is not None
    assert restored.snapshot_id == snap.id
    assert restored.warning is None
    assert store.list_suspects() == set()


async def test_verify_refuses_an_unreadable_manifest(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    with pytest.raises(VerificationError, match="does not exist"):
        verify_snapshot(store, keyring, "20260101T000000.000000Z-00000000")


async def test_gc_drops_markers_of_chunks_that_are_gone(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    session = tmp_path / "s"
    write(session, "local-session.json", b'{"v": 1}')
    first = await take_snapshot(session, "local", 1, store, keyring)
    (old_chunk,) = chunk_ids(store, first.id)
    write(session, "local-session.json", b'{"v": 2}')
    second = await take_snapshot(session, "local", 1, store, keyring)
    (live_chunk,) = chunk_ids(store, second.id)
    for chunk_id in (old_chunk, live_chunk, "0" * 64):  # the last was never uploaded
        store.mark_suspect(chunk_id)

    collect_garbage(store, token=1, keep_last=1, now=utcnow() + timedelta(days=1))
    assert old_chunk not in store.list_chunks()
    assert store.list_suspects() == {live_chunk}  # still referenced: still to be repaired
