"""Restore's writes on the real filesystem: O_DIRECT where it fits, buffered otherwise, same bytes.

tmp_path is on the machine's disk (ext4 here), which takes O_DIRECT; where a
filesystem refuses it the direct-only tests are skipped, and the restore
itself falls back to buffered writes (`supports_direct_io`).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from session_runner.session.snapshot.crypto import KeyRing
from session_runner.session.snapshot.restore import data_key_for, download_into
from session_runner.session.snapshot.restore_io import (
    ALIGN,
    ChunkScratch,
    RestoreWriter,
    supports_direct_io,
)
from session_runner.session.snapshot.snapshotter import take_snapshot
from session_runner.session.snapshot.store import SnapshotStore
from tests.integration.snapshot.conftest import MIB, captured_tree, make_profile, tree

O_DIRECT = getattr(os, "O_DIRECT", 0)


@pytest.fixture
def direct_dir(tmp_path: Path) -> Path:
    if not supports_direct_io(tmp_path):
        pytest.skip(f"the filesystem of {tmp_path} refuses O_DIRECT writes")
    return tmp_path


def opened_direct(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & O_DIRECT)


def write_chunks(writer: RestoreWriter, path: Path, chunks: list[bytes]) -> tuple[int, bool]:
    """Write `chunks` as a restore does; (file size, whether the fd was O_DIRECT when opened)."""
    sizes = [len(c) for c in chunks]
    scratch = ChunkScratch(max(sizes))
    fd = writer.open(path, sizes)
    was_direct = opened_direct(fd)
    try:
        offset = 0
        for chunk in chunks:
            scratch.plain_view(len(chunk))[:] = chunk
            writer.write(fd, scratch, len(chunk), offset)
            offset += len(chunk)
        writer.finish(fd, offset)
        return os.fstat(fd).st_size, was_direct
    finally:
        os.close(fd)


def test_a_direct_write_pads_the_tail_then_cuts_it(direct_dir: Path) -> None:
    chunks = [os.urandom(MIB), os.urandom(MIB), os.urandom(70_001)]
    size, was_direct = write_chunks(RestoreWriter(direct=True), direct_dir / "f", chunks)
    assert was_direct
    assert size == 2 * MIB + 70_001
    assert (direct_dir / "f").read_bytes() == b"".join(chunks)


def test_a_file_whose_chunks_would_start_unaligned_is_written_buffered(direct_dir: Path) -> None:
    chunks = [os.urandom(5000), os.urandom(5000), os.urandom(10)]
    size, was_direct = write_chunks(RestoreWriter(direct=True), direct_dir / "f", chunks)
    assert not was_direct
    assert (direct_dir / "f").read_bytes() == b"".join(chunks)
    assert size == 10_010


def test_a_writer_told_not_to_go_direct_never_does(direct_dir: Path) -> None:
    chunks = [os.urandom(MIB), os.urandom(3)]
    _, was_direct = write_chunks(RestoreWriter(direct=False), direct_dir / "f", chunks)
    assert not was_direct
    assert (direct_dir / "f").read_bytes() == b"".join(chunks)


def refuses_unaligned_direct_writes(directory: Path) -> bool:
    fd = os.open(directory / "probe", os.O_WRONLY | os.O_CREAT | O_DIRECT, 0o600)
    try:
        os.pwrite(fd, bytes(ALIGN), 1)
    except OSError as error:
        return error.errno == errno.EINVAL
    finally:
        os.close(fd)
        (directory / "probe").unlink()
    return False


def test_a_direct_write_the_kernel_refuses_falls_back_to_buffered(direct_dir: Path) -> None:
    """EINVAL from a direct write (stricter alignment than ours) turns the file buffered."""
    if not refuses_unaligned_direct_writes(direct_dir):
        pytest.skip(f"the filesystem of {direct_dir} accepts unaligned O_DIRECT writes")
    writer = RestoreWriter(direct=True)
    path = direct_dir / "f"
    first = os.urandom(MIB)
    scratch = ChunkScratch(MIB)
    fd = writer.open(path, [MIB, MIB])
    try:
        assert opened_direct(fd)
        scratch.plain_view(MIB)[:] = first
        writer.write(fd, scratch, MIB, ALIGN + 1)  # an offset no device accepts O_DIRECT at
        assert not opened_direct(fd)
        writer.finish(fd, MIB + ALIGN + 1)
    finally:
        os.close(fd)
    data = path.read_bytes()
    assert data[ALIGN + 1 :] == first
    assert data[: ALIGN + 1] == bytes(ALIGN + 1)


def test_supports_direct_io_is_false_where_no_file_can_be_made(tmp_path: Path) -> None:
    assert supports_direct_io(tmp_path / "missing") is False
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("chunk_size", [MIB, 5000])
async def test_direct_and_buffered_restores_write_the_same_tree(
    direct_dir: Path, store: SnapshotStore, keyring: KeyRing, direct: bool, chunk_size: int
) -> None:
    """Aligned (1 MiB) and unaligned (5000 B) chunks, direct or not: every byte, size and mode."""
    session = make_profile(direct_dir / "a" / "session")
    result = await take_snapshot(
        session, "browser", 1, store, keyring, chunk_size=chunk_size, immutable_chunk_size=0
    )
    manifest = store.get_manifest(result.id)
    staging = direct_dir / "staging"
    staging.mkdir()
    download_into(store, manifest, data_key_for(manifest, keyring), staging, direct_io=direct)
    assert tree(staging) == captured_tree(session)
    assert not (staging / ".wafleet-direct-io-probe").exists()
