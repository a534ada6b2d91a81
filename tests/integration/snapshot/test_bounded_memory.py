"""Snapshot and restore hold a few chunks in memory, never a whole file.

Immutable files are cut into 4 MiB chunks (`IMMUTABLE_CHUNK_SIZE`): with two
workers a few of them are in flight, so the file is many times that.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from session_runner.session.snapshot.crypto import KeyRing
from session_runner.session.snapshot.snapshotter import restore_latest, take_snapshot
from session_runner.session.snapshot.store import SnapshotStore
from tests.integration.snapshot.conftest import IDB, MIB, write

FILE_SIZE = 64 * MIB


async def test_memory_stays_far_below_the_file_size(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    session = tmp_path / "session"
    (session / IDB).mkdir(parents=True)
    with (session / IDB / "000005.ldb").open("wb") as out:
        for n in range(FILE_SIZE // MIB):  # distinct chunks
            out.write(bytes([n]) * 16 + (n.to_bytes(4, "big") * (MIB // 4))[16:])
    write(session, f"{IDB}/CURRENT", b"MANIFEST-000001\n")

    tracemalloc.start()
    try:
        await take_snapshot(session, "browser", 1, store, keyring, concurrency=2)
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        await restore_latest(tmp_path / "restored", store, keyring, concurrency=2)
        _, restore_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"peak traced memory: upload {upload_peak}, restore {restore_peak}")
    assert upload_peak < FILE_SIZE / 3, upload_peak
    assert restore_peak < FILE_SIZE / 3, restore_peak
    restored = tmp_path / "restored" / IDB / "000005.ldb"
    assert restored.stat().st_size == FILE_SIZE
