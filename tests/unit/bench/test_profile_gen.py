"""The benchmark's synthetic profile is what `bench/profile_gen.py` says it is.

Run on `ProfileSpec.small()` (a few MiB of the same shape): sizes, sparse
files, the LevelDB layout the capture rules look for, determinism, and how
compressible the IndexedDB tables are.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path

import pytest
import zstandard

from bench import profile_gen
from bench.profile_gen import GeneratedProfile, ProfileSpec
from session_runner.session.snapshot.staging import select_files


@pytest.fixture
def profile(tmp_path: Path) -> GeneratedProfile:
    return profile_gen.generate(tmp_path / "profile", ProfileSpec.small())


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_sizes_match_the_spec(profile: GeneratedProfile) -> None:
    spec = profile.spec
    root = profile.root
    state = sum(
        profile_gen.apparent_bytes(root / d) for d in ("Default/IndexedDB", "Default/Local Storage")
    )
    scaffold = 8 * 1024  # CURRENT, MANIFEST, LOG of two LevelDBs
    assert spec.state_bytes <= state <= spec.state_bytes + scaffold
    caches = {
        profile_gen.HTTP_CACHE_DIR: spec.http_cache_bytes,
        profile_gen.CODE_CACHE_DIR: spec.code_cache_bytes,
        profile_gen.GPU_CACHE_DIR: spec.gpu_cache_bytes,
        profile_gen.SERVICE_WORKER_DIR: spec.service_worker_bytes,
    }
    for directory, size in caches.items():
        written = profile_gen.apparent_bytes(root / directory)
        assert size <= written <= size + 24 * 1024, directory  # + the cache's index file
    tables = profile.table_paths()
    assert len(tables) == spec.idb_tables
    assert {t.stat().st_size for t in tables} == {spec.table_bytes}


def test_default_spec_is_about_one_gib_allocated() -> None:
    spec = ProfileSpec()
    allocated = spec.state_bytes + spec.cache_bytes
    assert 0.95 * 2**30 <= allocated <= 1.05 * 2**30
    assert spec.sparse_apparent_bytes == 512 * 2**20
    assert spec.table_bytes == 2 * 2**20


def test_sparse_files_are_sparse(profile: GeneratedProfile) -> None:
    spec = profile.spec
    for name in profile_gen.SPARSE_FILES:
        st = (profile.root / name).stat()
        assert st.st_size == spec.sparse_apparent_bytes
        assert st.st_blocks * 512 <= spec.sparse_allocated_bytes + 64 * 1024
    assert profile_gen.allocated_bytes(profile.root) < profile_gen.apparent_bytes(profile.root) / 2


def test_layout_is_what_capture_looks_for(profile: GeneratedProfile) -> None:
    idb = profile.idb_dir
    for name in ("CURRENT", "LOCK", "LOG", "MANIFEST-000001", "000003.log"):
        assert (idb / name).is_file(), name
    assert idb.name == "https_web.whatsapp.com_0.indexeddb.leveldb"
    assert (profile.root / profile_gen.IDB_BLOB_DIR / "1" / "00" / "1").is_file()
    assert (profile.root / profile_gen.LOCAL_STORAGE_DIR / "000005.ldb").is_file()
    captured = {entry.path for entry in select_files(profile.root, "browser")}
    assert all(not p.startswith(("Default/Cache", "Default/Code Cache")) for p in captured)
    assert not any("GPUCache" in p or "Service Worker" in p or "Shader" in p for p in captured)
    assert {t.relative_to(profile.root).as_posix() for t in profile.table_paths()} <= captured
    assert profile_gen.IDB_LOG in captured
    assert "Local State" in captured


def test_tables_are_compressible_but_not_trivially() -> None:
    import random

    table = profile_gen.leveldb_table(random.Random(3), 2 * 2**20)
    assert table.endswith((0xDB4775248B80FB57).to_bytes(8, "little"))
    deflate = len(zlib.compress(table, 6)) / len(table)
    zstd = len(zstandard.ZstdCompressor(level=3).compress(table[: 2**20])) / 2**20
    assert 0.5 <= deflate <= 0.7
    assert 0.5 <= zstd <= 0.7


def test_default_spec_reproduces_the_reference_profile() -> None:
    """FACTS.md's figures for the reference profile, estimated from one sample of each file kind.

    RemoteAuth's zip of IndexedDB + Local Storage ~146 MB; after 64 KB of log
    and one new 2 MB table, whole-file dedup uploads ~3.5 MB and 1 MiB chunks
    ~1.2 MB (zstd-3 per file, as FACTS measured). Each within 10 %.
    """
    import random

    spec = ProfileSpec()
    table = profile_gen.leveldb_table(random.Random(3), spec.table_bytes)
    log = profile_gen.records(random.Random(4), spec.idb_log_bytes)
    tail = profile_gen.records(random.Random(5), 64 * 1024)
    ls_table = profile_gen.leveldb_table(random.Random(6), spec.local_storage_table_bytes)
    ls_log = profile_gen.records(random.Random(7), spec.local_storage_log_bytes)
    blobs = spec.blob_count * spec.blob_bytes  # media-like, incompressible
    zipped = (
        spec.idb_tables * len(zlib.compress(table, 6))
        + len(zlib.compress(log, 6))
        + blobs
        + len(zlib.compress(ls_table, 6))
        + len(zlib.compress(ls_log, 6))
    )
    zstd = zstandard.ZstdCompressor(level=3)
    chunked = len(zstd.compress(table)) + len(zstd.compress(tail))
    whole_file = len(zstd.compress(table)) + len(zstd.compress(log + tail))
    assert zipped == pytest.approx(146e6, rel=0.1)
    assert chunked == pytest.approx(1.2e6, rel=0.1)
    assert whole_file == pytest.approx(3.5e6, rel=0.1)


def test_deterministic_from_the_seed(tmp_path: Path) -> None:
    one = profile_gen.generate(tmp_path / "one", ProfileSpec.small(seed=11))
    two = profile_gen.generate(tmp_path / "two", ProfileSpec.small(seed=11))
    other = profile_gen.generate(tmp_path / "other", ProfileSpec.small(seed=12))
    assert _digest(one.root) == _digest(two.root)
    assert _digest(one.root) != _digest(other.root)


def test_small_change_appends_and_adds_without_rewriting(profile: GeneratedProfile) -> None:
    before = {p.name: p.read_bytes() for p in profile.table_paths()}
    log_before = profile.idb_log.read_bytes()
    profile_gen.append_log(profile, 64 * 1024)
    added = profile_gen.add_table(profile)
    assert added.name not in before
    assert added.stat().st_size == profile.spec.table_bytes
    assert {p.name: p.read_bytes() for p in profile.table_paths() if p != added} == before
    log_after = profile.idb_log.read_bytes()
    assert log_after.startswith(log_before)
    assert len(log_after) == len(log_before) + 64 * 1024
