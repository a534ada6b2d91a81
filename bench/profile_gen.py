"""A synthetic Chromium profile of a WhatsApp Web session, for the snapshot benchmark.

Why synthetic: a real logged-in profile cannot be made here (no network, no
phone), and the benchmark must be repeatable. What matters for snapshot cost
is the shape of the bytes, which this reproduces from what a real profile
holds (see /work/shared/FACTS.md, "Where a page's state lives"):

* caches that are most of the bytes and none of the state: the HTTP cache
  (`Default/Cache/Cache_Data`), V8's code cache, the GPU cache and the
  service worker's CacheStorage. Their content is incompressible random
  bytes with small plain-text headers, like the compressed responses,
  images and bytecode they really hold. That makes a whole-profile zip
  (baseline (b)) ~1.06 GB here, where a real profile's partly compressible
  code and GPU caches gave ~631 MB: the `_vs_whole_profile` byte ratios
  flatter us by up to ~1.7x against such a profile;
* two sparse preallocated files of 512 MiB apparent size (`ShaderCache`,
  `GrShaderCache`) with only their first MiB allocated: naive zipping reads
  them in full, an allow-list never opens them;
* the state: IndexedDB of `https_web.whatsapp.com_0` as LevelDB `.ldb`
  tables of ~2 MiB that never change once written, a growing `.log`,
  `CURRENT`/`MANIFEST`/`LOCK`/`LOG`, IndexedDB blobs (media-like,
  incompressible), and Local Storage (a small LevelDB).

Table and log content is JSON-ish message records: hex ids, digits, base64
key material, a little V8-serialized binary and text drawn from a skewed
alphabet, so no compressor wins by finding trivial repetition and every
1 MiB chunk is distinct.

Calibrated to the reference profile measured for the issue
(/work/shared/FACTS.md, "Session-state baselines"): RemoteAuth's zip of
IndexedDB + Local Storage ~146 MB; after the small change (64 KB of log, one
new 2 MB table) whole-file dedup uploads ~3.5 MB and 1 MiB chunks ~1.2 MB.
`tests/unit/bench/test_profile_gen.py` checks all three from a sample table.
That fixes how compressible a table is (~0.59 deflate-6, ~0.57 zstd-3: a
2 MiB table plus the 64 KB tail to ~1.2 MB), how many tables there are (~146
MB zipped) and the .log's size (4 MiB, LevelDB's default write buffer: the
new table plus the whole log ~3.6 MB). An earlier version of this generator
had three times as much binary per record (tables at 0.69 deflate-6, 80 of
them, a 1 MiB log); it was harder on chunking than the reference profile
(1 MiB chunks ~1.46 MB for the change) and its results are kept in
bench/results.jsonl.

Everything is deterministic from the seed (`random.Random`, never
`os.urandom`), so two runs generate byte-identical profiles. The default
spec allocates ~0.99 GiB in a few seconds.
"""

from __future__ import annotations

import base64
import json
import os
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1 << 20
WA_ORIGIN = "https_web.whatsapp.com_0"
IDB_DIR = f"Default/IndexedDB/{WA_ORIGIN}.indexeddb.leveldb"
IDB_BLOB_DIR = f"Default/IndexedDB/{WA_ORIGIN}.indexeddb.blob"
LOCAL_STORAGE_DIR = "Default/Local Storage/leveldb"
HTTP_CACHE_DIR = "Default/Cache/Cache_Data"
CODE_CACHE_DIR = "Default/Code Cache/js"
GPU_CACHE_DIR = "Default/GPUCache"
SERVICE_WORKER_DIR = "Default/Service Worker/CacheStorage"
SPARSE_FILES = ("ShaderCache/data_prealloc", "GrShaderCache/data_prealloc")
IDB_LOG = f"{IDB_DIR}/000003.log"
LEVELDB_FOOTER_MAGIC = 0xDB4775248B80FB57
FIRST_TABLE_NUMBER = 5

# Text of a skewed alphabet: frequent letters and spaces, a few rare symbols.
# About 4.2 bits of entropy per byte: deflate and zstd shrink it, but not to nothing.
_TEXT_ALPHABET = (
    b"eeeeeeeeeeeetttttttttaaaaaaaaooooooooiiiiiiinnnnnnnsssssshhhhhhrrrrrr"
    b"ddddlllluuucccmmmwwffggyyppbbvk          ,.!?0123456789EAOTHSMx"
)
#: Incompressible binary bytes per record; with the rest of a record this sets how
#: compressible a table is (calibrated, see the module docstring).
RAW_BYTES = 32
_TEXT_TABLE = bytes(_TEXT_ALPHABET[i % len(_TEXT_ALPHABET)] for i in range(256))


@dataclass(frozen=True)
class ProfileSpec:
    """How much of each kind of file to generate (bytes are allocated sizes)."""

    seed: int = 20261123
    http_cache_bytes: int = 430 * MIB
    code_cache_bytes: int = 150 * MIB
    gpu_cache_bytes: int = 100 * MIB
    service_worker_bytes: int = 150 * MIB
    idb_tables: int = 99
    table_bytes: int = 2 * MIB
    idb_log_bytes: int = 4 * MIB
    blob_count: int = 40
    blob_bytes: int = 512 * 1024
    local_storage_table_bytes: int = 1 * MIB
    local_storage_log_bytes: int = 512 * 1024
    sparse_apparent_bytes: int = 512 * MIB
    sparse_allocated_bytes: int = 1 * MIB
    cache_file_bytes: tuple[int, int] = field(default=(16 * 1024, 512 * 1024))

    @classmethod
    def small(cls, seed: int = 7) -> ProfileSpec:
        """A few MiB of the same shape, for tests."""
        return cls(
            seed=seed,
            http_cache_bytes=2 * MIB,
            code_cache_bytes=1 * MIB,
            gpu_cache_bytes=1 * MIB,
            service_worker_bytes=1 * MIB,
            idb_tables=3,
            idb_log_bytes=64 * 1024,
            blob_count=2,
            blob_bytes=64 * 1024,
            local_storage_table_bytes=64 * 1024,
            local_storage_log_bytes=32 * 1024,
            sparse_apparent_bytes=16 * MIB,
            sparse_allocated_bytes=64 * 1024,
        )

    @property
    def state_bytes(self) -> int:
        """Bytes of WhatsApp Web state (IndexedDB + Local Storage), what baseline (a) copies."""
        return (
            self.idb_tables * self.table_bytes
            + self.idb_log_bytes
            + self.blob_count * self.blob_bytes
            + self.local_storage_table_bytes
            + self.local_storage_log_bytes
        )

    @property
    def cache_bytes(self) -> int:
        """Bytes of caches, allocated (the sparse files count their allocated part)."""
        return (
            self.http_cache_bytes
            + self.code_cache_bytes
            + self.gpu_cache_bytes
            + self.service_worker_bytes
            + len(SPARSE_FILES) * self.sparse_allocated_bytes
        )


@dataclass(frozen=True)
class GeneratedProfile:
    """Where a generated profile is, and what was generated."""

    root: Path
    spec: ProfileSpec

    @property
    def idb_dir(self) -> Path:
        return self.root / IDB_DIR

    @property
    def idb_log(self) -> Path:
        return self.root / IDB_LOG

    def table_paths(self) -> list[Path]:
        """The IndexedDB `.ldb` tables, oldest first."""
        return sorted(self.idb_dir.glob("*.ldb"))


def _rng(spec_seed: int, *salt: int) -> random.Random:
    """An independent, reproducible stream per file (the same file is the same on every run)."""
    return random.Random(":".join(str(n) for n in (spec_seed, *salt)))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def records(rng: random.Random, size: int) -> bytes:
    """`size` bytes of JSON-ish WhatsApp message records, as IndexedDB would hold them.

    Built from bulk random bytes sliced per record, so generating ~170 MiB
    takes a couple of seconds rather than a minute of per-field `random` calls.
    """
    count = size // 260 + 2
    hexes = rng.randbytes(count * 10).hex().encode()
    keys = base64.b64encode(rng.randbytes(count * 24))
    raw = rng.randbytes(count * RAW_BYTES)  # V8-serialized binary (keys, hashes): incompressible
    text = rng.randbytes(count * 160).translate(_TEXT_TABLE)
    lengths = rng.randbytes(count)
    stamps = rng.randbytes(count * 2)
    parts: list[bytes] = []
    total = 0
    t0 = 1_700_000_000
    for i in range(count):
        body_len = 20 + lengths[i] // 2
        stamp = t0 + i * 37 + stamps[2 * i]
        record = b"".join(
            (
                b'\x00\x01\x01{"id":"false_1555',
                hexes[20 * i : 20 * i + 7],
                b"@c.us_3EB0",
                hexes[20 * i + 7 : 20 * i + 20].upper(),
                b'","t":',
                str(stamp).encode(),
                b',"type":"chat","ack":',
                str(stamps[2 * i + 1] & 3).encode(),
                b',"body":"',
                text[160 * i : 160 * i + body_len],
                b'","mediaKey":"',
                keys[32 * i : 32 * i + 32],
                b'","k":',
                raw[RAW_BYTES * i : RAW_BYTES * (i + 1)],
                b"}",
            )
        )
        parts.append(record)
        total += len(record)
        if total >= size:
            break
    return b"".join(parts)[:size]


def leveldb_table(rng: random.Random, size: int) -> bytes:
    """An `.ldb`-like table: record blocks, then LevelDB's 48-byte footer with its magic."""
    body = records(rng, size - 48)
    footer = bytes(40) + struct.pack("<Q", LEVELDB_FOOTER_MAGIC)
    return body + footer


def _random_file(rng: random.Random, size: int, header: bytes) -> bytes:
    """A cache entry: a small plain-text header, then incompressible bytes."""
    return header[:size] + rng.randbytes(max(0, size - len(header)))


def _fill_dir(
    root: Path, directory: str, total: int, spec: ProfileSpec, salt: int, kind: str
) -> None:
    """Cache files of sizes drawn from `spec.cache_file_bytes`, adding up to `total`."""
    rng = _rng(spec.seed, salt)
    low, high = spec.cache_file_bytes
    written = 0
    n = 0
    while written < total:
        size = min(rng.randint(low, high), total - written)
        name = f"{rng.getrandbits(64):016x}_0"
        header = f"HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\nx-entry: {n}\r\n\r\n".encode()
        _write(root / directory / name, _random_file(rng, size, header))
        written += size
        n += 1
    _write(root / directory / "index", rng.randbytes(min(total, 24 * 1024)))


def _sparse(path: Path, apparent: int, allocated: int, rng: random.Random) -> None:
    """A preallocated file: `apparent` bytes long, only its first `allocated` bytes written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(rng.randbytes(allocated))
        handle.truncate(apparent)


def add_table(profile: GeneratedProfile, number: int | None = None) -> Path:
    """Write one more IndexedDB table (what a LevelDB compaction adds); never rewrites one."""
    tables = profile.table_paths()
    if number is None:
        number = (int(tables[-1].stem) + 1) if tables else FIRST_TABLE_NUMBER
    path = profile.idb_dir / f"{number:06d}.ldb"
    if path.exists():
        raise FileExistsError(path)
    _write(path, leveldb_table(_rng(profile.spec.seed, 1, number), profile.spec.table_bytes))
    return path


def append_log(profile: GeneratedProfile, size: int, salt: int = 0) -> None:
    """Append `size` bytes of new records to the IndexedDB `.log` (it only ever grows)."""
    current = profile.idb_log.stat().st_size
    with profile.idb_log.open("ab") as handle:
        handle.write(records(_rng(profile.spec.seed, 2, current, salt), size))


def _leveldb_scaffold(directory: Path, tables: list[int], rng: random.Random) -> None:
    """CURRENT, MANIFEST, LOCK and LOG: the small files every LevelDB dir has."""
    _write(directory / "CURRENT", b"MANIFEST-000001\n")
    _write(directory / "LOCK", b"")
    _write(directory / "LOG", b"2026/11/23-10:00:00.000 1 Recovering log #3\n")
    manifest = b"\x00".join(
        b"leveldb.BytewiseComparator" + struct.pack("<I", t) + rng.randbytes(16) for t in tables
    )
    _write(directory / "MANIFEST-000001", manifest)


def generate(root: Path, spec: ProfileSpec | None = None) -> GeneratedProfile:
    """Write a profile of `spec` (default ~0.99 GiB allocated) under `root`, which must be empty."""
    spec = spec or ProfileSpec()
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    profile = GeneratedProfile(root, spec)
    local_state = {"profile": {"info_cache": {"Default": {"name": "Person 1"}}}, "seed": spec.seed}
    _write(root / "Local State", json.dumps(local_state).encode())
    prefs = {"profile": {"exit_type": "Normal", "exited_cleanly": True}, "pad": "x" * 16000}
    _write(root / "Default" / "Preferences", json.dumps(prefs).encode())

    _fill_dir(root, HTTP_CACHE_DIR, spec.http_cache_bytes, spec, 10, "image/jpeg")
    _fill_dir(root, CODE_CACHE_DIR, spec.code_cache_bytes, spec, 11, "application/x-v8-bytecode")
    _fill_dir(root, GPU_CACHE_DIR, spec.gpu_cache_bytes, spec, 12, "application/x-gpu-blob")
    _fill_dir(
        root,
        f"{SERVICE_WORKER_DIR}/{'ab' * 20}/{'cd' * 18}",
        spec.service_worker_bytes,
        spec,
        13,
        "application/javascript",
    )
    for n, name in enumerate(SPARSE_FILES):
        _sparse(
            root / name,
            spec.sparse_apparent_bytes,
            spec.sparse_allocated_bytes,
            _rng(spec.seed, 20, n),
        )

    table_numbers = [FIRST_TABLE_NUMBER + 2 * i for i in range(spec.idb_tables)]
    _leveldb_scaffold(profile.idb_dir, table_numbers, _rng(spec.seed, 30))
    for number in table_numbers:
        add_table(profile, number)
    _write(profile.idb_log, records(_rng(spec.seed, 31), spec.idb_log_bytes))
    blob_rng = _rng(spec.seed, 32)
    for n in range(spec.blob_count):
        _write(root / IDB_BLOB_DIR / "1" / "00" / f"{n + 1:x}", blob_rng.randbytes(spec.blob_bytes))

    ls_dir = root / LOCAL_STORAGE_DIR
    _leveldb_scaffold(ls_dir, [5], _rng(spec.seed, 40))
    _write(
        ls_dir / "000005.ldb", leveldb_table(_rng(spec.seed, 41), spec.local_storage_table_bytes)
    )
    _write(ls_dir / "000003.log", records(_rng(spec.seed, 42), spec.local_storage_log_bytes))
    return profile


def allocated_bytes(root: Path) -> int:
    """Bytes the files under `root` occupy on disk (sparse holes excluded)."""
    return sum(
        (Path(d) / f).lstat().st_blocks * 512 for d, _, files in os.walk(root) for f in files
    )


def apparent_bytes(root: Path) -> int:
    """Sum of file sizes under `root` (sparse holes included: what a naive reader reads)."""
    return sum((Path(d) / f).lstat().st_size for d, _, files in os.walk(root) for f in files)
