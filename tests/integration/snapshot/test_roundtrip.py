"""Snapshot → restore against the moto server over HTTP: identical files, dedupe, fallback."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import zstandard

from session_runner.contract.layout import account_prefix, chunk_key, manifest_key
from session_runner.session.snapshot.crypto import KeyRing
from session_runner.session.snapshot.restore import RestoreError
from session_runner.session.snapshot.snapshotter import (
    NothingToCapture,
    restore_latest,
    take_snapshot,
)
from session_runner.session.snapshot.store import SnapshotStore
from tests.integration.snapshot.conftest import (
    IDB,
    MIB,
    Bucket,
    captured_tree,
    make_profile,
    tree,
    write,
)


async def test_restore_yields_identical_files_and_modes(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    session = make_profile(tmp_path / "a" / "session")
    expected = captured_tree(session)
    result = await take_snapshot(session, "browser", 1, store, keyring, owner="default/alice")
    assert result.files == len(expected)
    assert result.total_bytes == sum(len(b) for b, _ in expected.values())

    target = tmp_path / "b" / "session"
    write(target, "stale-file", b"from an older life")
    restored = await restore_latest(target, store, keyring)
    assert restored is not None
    assert restored.snapshot_id == result.id
    assert restored.warning is None
    assert tree(target) == expected  # caches, LOCK, LOG, sparse files and stale files are gone
    assert not any(p.name.startswith(".wafleet") for p in target.parent.iterdir())


async def test_unchanged_session_uploads_nothing_and_small_change_uploads_little(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing, bucket: Bucket
) -> None:
    session = make_profile(tmp_path / "session")
    first = await take_snapshot(session, "browser", 1, store, keyring)
    assert first.chunks_reused == 1  # the two CURRENT files are identical: one object
    assert first.bytes_uploaded > 2 * MIB

    second = await take_snapshot(session, "browser", 1, store, keyring)
    assert second.bytes_uploaded == 0
    assert second.chunks_new == 0
    assert second.chunks_reused == first.chunks_new + first.chunks_reused

    with (session / IDB / "000009.log").open("ab") as log:
        log.write(b"x" * 65536)
    write(session, f"{IDB}/000010.ldb", b"y" * (MIB + 10), 0o644)  # one 4 MiB-max chunk
    third = await take_snapshot(session, "browser", 1, store, keyring)
    # the .log (one chunk) and the new table (one chunk: tables are immutable); nothing else
    assert third.chunks_new == 2
    assert third.bytes_uploaded < first.bytes_uploaded / 10

    restored = await restore_latest(tmp_path / "copy", store, keyring)
    assert restored is not None
    assert restored.snapshot_id == third.id
    assert tree(tmp_path / "copy") == captured_tree(session)
    chunk_objects = bucket.keys(store.prefix + "chunks/")
    assert len(chunk_objects) == first.chunks_new + third.chunks_new


async def test_corrupt_chunk_falls_back_to_the_previous_snapshot(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing, bucket: Bucket
) -> None:
    session = make_profile(tmp_path / "session")
    before = captured_tree(session)
    old = await take_snapshot(session, "browser", 1, store, keyring)
    write(session, f"{IDB}/000011.ldb", b"new table" * 1000, 0o644)
    new = await take_snapshot(session, "browser", 1, store, keyring)

    manifest = store.get_manifest(new.id)
    old_ids = {c.id for f in store.get_manifest(old.id).files for c in f.chunks}
    fresh = next(c for f in manifest.files for c in f.chunks if c.id not in old_ids)
    key = chunk_key(store.prefix, fresh.id)
    blob = bytearray(bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"].read())
    blob[-1] ^= 0xFF  # moto accepts it: only our own verification can notice
    bucket.client.put_object(Bucket=bucket.name, Key=key, Body=bytes(blob))

    target = tmp_path / "restored"
    write(target, "keep-me", b"the old session stays until a snapshot verifies")
    lists = count_lists(bucket)
    restored = await restore_latest(target, store, keyring)
    assert restored is not None
    assert restored.snapshot_id == old.id
    assert restored.fell_back
    assert new.id in (restored.warning or "")
    assert tree(target) == before
    assert lists == ["manifests/"]  # falling back is when the manifests are listed


def count_lists(bucket: Bucket) -> list[str]:
    """The prefixes (below the account's) of every ListObjectsV2 the bucket's client sends."""
    seen: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params["Prefix"].removeprefix(account_prefix("snaps", "default", "alice")))

    bucket.client.meta.events.register("provide-client-params.s3.ListObjectsV2", record)
    return seen


async def test_restoring_the_latest_snapshot_lists_nothing(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing, bucket: Bucket
) -> None:
    """A restore that works reads the pointer and one manifest: no LIST (slower, dearer on S3)."""
    session = make_profile(tmp_path / "session")
    taken = await take_snapshot(session, "browser", 1, store, keyring)
    lists = count_lists(bucket)
    restored = await restore_latest(tmp_path / "restored", store, keyring)
    assert restored is not None
    assert restored.snapshot_id == taken.id
    assert lists == []


async def test_edited_manifest_fails_its_mac(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing, bucket: Bucket
) -> None:
    session = make_profile(tmp_path / "session")
    old = await take_snapshot(session, "browser", 1, store, keyring)
    new = await take_snapshot(session, "browser", 1, store, keyring)
    key = manifest_key(store.prefix, new.id)
    stored = bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"].read()
    doc = zstandard.ZstdDecompressor().decompress(stored)  # format 2: compressed JSON
    assert b'"mode":420' in doc
    edited = zstandard.ZstdCompressor().compress(doc.replace(b'"mode":420', b'"mode":511'))
    bucket.client.put_object(Bucket=bucket.name, Key=key, Body=edited)
    restored = await restore_latest(tmp_path / "r", store, keyring)
    assert restored is not None
    assert restored.snapshot_id == old.id
    assert "MAC" in (restored.warning or "")


async def test_no_verifiable_snapshot_is_an_error_and_an_empty_store_is_none(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing, bucket: Bucket
) -> None:
    assert await restore_latest(tmp_path / "s", store, keyring) is None
    session = make_profile(tmp_path / "session")
    await take_snapshot(session, "browser", 1, store, keyring)
    for key in bucket.keys(store.prefix + "chunks/")[:1]:
        bucket.client.delete_object(Bucket=bucket.name, Key=key)
    with pytest.raises(RestoreError, match="no snapshot could be restored"):
        await restore_latest(tmp_path / "s", store, keyring)


async def test_restore_from_picks_a_snapshot(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    session = tmp_path / "session"
    write(session, "local-session.json", b'{"v": 1}')
    first = await take_snapshot(session, "local", 1, store, keyring)
    write(session, "local-session.json", b'{"v": 2}')
    await take_snapshot(session, "local", 1, store, keyring)
    restored = await restore_latest(tmp_path / "r", store, keyring, restore_from=first.id)
    assert restored is not None
    assert restored.snapshot_id == first.id
    assert (tmp_path / "r" / "local-session.json").read_bytes() == b'{"v": 1}'


async def test_protocol_store_is_taken_by_online_backup_while_open(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    session = tmp_path / "session"
    session.mkdir()
    live = sqlite3.connect(session / "whatsmeow.sqlite")
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("CREATE TABLE keys (k TEXT PRIMARY KEY, v BLOB)")
    live.executemany("INSERT INTO keys VALUES (?, ?)", [(f"k{i}", b"v" * 100) for i in range(500)])
    live.commit()
    try:
        assert (session / "whatsmeow.sqlite-wal").exists()  # committed rows still in the WAL
        result = await take_snapshot(session, "protocol", 1, store, keyring)
        live.execute("INSERT INTO keys VALUES ('after', x'00')")  # the engine kept writing
        live.commit()
    finally:
        live.close()
    assert result.files == 1
    await restore_latest(tmp_path / "r", store, keyring)
    copy = sqlite3.connect(tmp_path / "r" / "whatsmeow.sqlite")
    try:
        assert copy.execute("SELECT count(*) FROM keys").fetchone() == (500,)
    finally:
        copy.close()
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["whatsmeow.sqlite"]


async def test_capture_happens_inside_quiesce_and_upload_after(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    session = make_profile(tmp_path / "session")
    expected = captured_tree(session)
    events: list[str] = []

    @asynccontextmanager
    async def quiesce() -> AsyncIterator[None]:
        events.append("closed")
        yield
        events.append("relaunched")
        # the engine writes again as soon as it relaunches: the snapshot must not see it
        with (session / IDB / "000009.log").open("ab") as log:
            log.write(b"written after relaunch")

    result = await take_snapshot(session, "browser", 1, store, keyring, quiesce=quiesce)
    assert events == ["closed", "relaunched"]
    restored = await restore_latest(tmp_path / "r", store, keyring)
    assert restored is not None
    assert restored.snapshot_id == result.id
    assert tree(tmp_path / "r") == expected


async def test_a_session_without_state_is_not_snapshotted(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    write(tmp_path / "session", "Default/GPUCache/data_0", b"cache only")
    with pytest.raises(NothingToCapture):
        await take_snapshot(tmp_path / "session", "browser", 1, store, keyring)
    assert store.list_snapshot_ids() == []


def test_sqlite_backup_finishes_while_a_writer_keeps_writing(tmp_path: Path) -> None:
    """whatsmeow writes its store continuously; the backup must complete anyway."""
    import sqlite3
    import threading

    from session_runner.session.snapshot.staging import sqlite_backup

    db = tmp_path / "store.sqlite3"
    setup = sqlite3.connect(db)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    setup.executemany("INSERT INTO t (v) VALUES (?)", [(b"x" * 4096,) for _ in range(4000)])
    setup.commit()
    setup.close()
    stop = threading.Event()

    def write() -> None:
        writer = sqlite3.connect(db)
        while not stop.is_set():
            writer.execute("INSERT INTO t (v) VALUES (?)", (b"y" * 512,))
            writer.commit()
        writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        done = threading.Event()

        def back_up() -> None:
            sqlite_backup(db, tmp_path / "copy.sqlite3")
            done.set()

        backup = threading.Thread(target=back_up)
        backup.start()
        backup.join(timeout=60)
        assert done.is_set(), "the backup did not finish while the writer ran"
    finally:
        stop.set()
        thread.join()
    copy = sqlite3.connect(tmp_path / "copy.sqlite3")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert copy.execute("SELECT count(*) FROM t").fetchone()[0] >= 4000
