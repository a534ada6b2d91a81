"""Fixtures for snapshot tests: a bucket on the moto server, a store, keys, a browser-like profile."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from session_runner.contract.layout import account_prefix
from session_runner.session.snapshot.crypto import KeyRing
from session_runner.session.snapshot.store import SnapshotStore
from tests.harness.moto_server import AwsEndpoint
from tests.harness.secret_scan import describe, find_leaks

BUCKET = "wafleet-snapshots"
KEK1 = bytes(range(32))
KEK2 = bytes(range(100, 132))
IDB = "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb"
LS = "Default/Local Storage/leveldb"
MIB = 1 << 20


@dataclass
class Bucket:
    client: Any
    name: str

    def store(self, namespace: str = "default", account: str = "alice") -> SnapshotStore:
        return SnapshotStore(self.client, self.name, account_prefix("snaps", namespace, account))

    def keys(self, under: str = "") -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        return [
            obj["Key"]
            for page in paginator.paginate(Bucket=self.name, Prefix=under)
            for obj in page.get("Contents", [])
        ]


@pytest.fixture(autouse=True)
def keys_never_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every snapshot test: no KEK appears in any log line or logged traceback of ours."""
    caplog.set_level(logging.DEBUG, logger="session_runner")
    yield
    leaks = find_leaks({"KEK1": KEK1, "KEK2": KEK2}, {"session_runner logs": caplog.text})
    assert not leaks, describe(leaks)


@pytest.fixture
def bucket(aws: AwsEndpoint) -> Bucket:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return Bucket(client, BUCKET)


@pytest.fixture
def store(bucket: Bucket) -> SnapshotStore:
    return bucket.store()


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing(KEK1)


def write(root: Path, rel: str, data: bytes, mode: int = 0o600) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


def make_profile(root: Path, seed: int = 1) -> Path:
    """A small Chromium-like profile: WhatsApp's state among caches it must not capture."""
    rnd = _Random(seed)
    write(root, f"{IDB}/000005.ldb", rnd.bytes(2 * MIB + 12345), 0o644)
    write(root, f"{IDB}/000008.ldb", rnd.bytes(300_000), 0o644)
    write(root, f"{IDB}/000009.log", rnd.bytes(70_000))
    write(root, f"{IDB}/CURRENT", b"MANIFEST-000001\n")
    write(root, f"{IDB}/MANIFEST-000001", rnd.bytes(900))
    write(root, f"{IDB}/LOCK", b"")
    write(root, f"{IDB}/LOG", b"2026/01/01 info log\n")
    write(root, f"{LS}/000003.ldb", rnd.bytes(40_000), 0o640)
    write(root, f"{LS}/000004.log", b"WABrowserId=abc\n")
    write(root, f"{LS}/CURRENT", b"MANIFEST-000001\n")
    write(root, f"{LS}/MANIFEST-000001", rnd.bytes(200))
    write(root, "Local State", b'{"profile": {}}')
    write(root, "Default/Preferences", b'{"exit_type": "Normal"}')
    write(root, "Default/Cache/Cache_Data/data_1", rnd.bytes(500_000))
    write(root, "Default/GPUCache/data_0", rnd.bytes(200_000))
    with (root / "Default" / "sparse.prealloc").open("wb") as handle:
        handle.truncate(64 * MIB)  # sparse: apparent size only
    return root


def captured_tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Path → (bytes, mode) of the files a browser snapshot captures."""
    from session_runner.session.snapshot.staging import select_files

    return {
        e.path: ((root / e.path).read_bytes(), stat.S_IMODE(os.stat(root / e.path).st_mode))
        for e in select_files(root, "browser")
    }


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            out[path.relative_to(root).as_posix()] = (
                path.read_bytes(),
                stat.S_IMODE(path.stat().st_mode),
            )
    return out


class _Random:
    """Deterministic incompressible bytes without importing random's global state."""

    def __init__(self, seed: int) -> None:
        import random

        self._r = random.Random(seed)

    def bytes(self, n: int) -> bytes:
        return self._r.randbytes(n)
