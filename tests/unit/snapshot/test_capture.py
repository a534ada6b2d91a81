"""What each engine's snapshot captures: a table of paths and the expected decision."""

from __future__ import annotations

import pytest

from session_runner.session.snapshot.capture import (
    CAPTURE_RULES,
    FileInfo,
    Method,
    rule_for,
    select,
)

IDB = "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb"
LS = "Default/Local Storage/leveldb"

BROWSER_TABLE = [
    (f"{IDB}/000005.ldb", Method.LINK),
    (f"{IDB}/000003.sst", Method.LINK),
    (f"{IDB}/000007.log", Method.COPY),
    (f"{IDB}/CURRENT", Method.COPY),
    (f"{IDB}/MANIFEST-000001", Method.COPY),
    (f"{IDB}/LOCK", None),
    (f"{IDB}/LOG", None),
    (f"{IDB}/LOG.old", None),
    ("Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.blob/1/00/3", Method.LINK),
    ("Default/IndexedDB/https_example.com_0.indexeddb.leveldb/000005.ldb", None),
    (f"{LS}/000003.ldb", Method.LINK),
    (f"{LS}/000004.log", Method.COPY),
    (f"{LS}/CURRENT", Method.COPY),
    (f"{LS}/LOCK", None),
    ("Local State", Method.COPY),
    ("Default/Preferences", Method.COPY),
    ("Default/Cache/Cache_Data/data_1", None),
    ("Default/Code Cache/js/index", None),
    ("Default/GPUCache/data_0", None),
    ("GrShaderCache/data_0", None),
    ("Crashpad/reports/abc.dmp", None),
    ("Default/blob_storage/uuid/0", None),
    ("Default/Service Worker/CacheStorage/x/index", None),
    ("Default/Session Storage/000003.log", None),
    ("Default/Cookies", None),
    ("Default/sparse.prealloc", None),
    ("SingletonLock", None),
]


@pytest.mark.parametrize(("path", "expected"), BROWSER_TABLE)
def test_browser_capture_table(path: str, expected: Method | None) -> None:
    rule = rule_for(path, "browser")
    assert (rule.method if rule else None) == expected


PROTOCOL_TABLE = [
    ("whatsmeow.sqlite", Method.SQLITE_BACKUP),
    ("store.db", Method.SQLITE_BACKUP),
    ("store.sqlite3", Method.SQLITE_BACKUP),
    ("store.db-wal", None),
    ("store.db-shm", None),
    ("store.db-journal", None),
    ("media/cache.bin", None),
]


@pytest.mark.parametrize(("path", "expected"), PROTOCOL_TABLE)
def test_protocol_capture_table(path: str, expected: Method | None) -> None:
    rule = rule_for(path, "protocol")
    assert (rule.method if rule else None) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [("local-session.json", Method.COPY), ("other.json", None), ("sub/local-session.json", None)],
)
def test_local_capture_table(path: str, expected: Method | None) -> None:
    rule = rule_for(path, "local")
    assert (rule.method if rule else None) == expected


def test_every_rule_says_why() -> None:
    for includes, excludes in CAPTURE_RULES.values():
        reasons = [rule.reason for rule in includes] + [rule.reason for rule in excludes]
        assert all(len(reason) > 10 for reason in reasons)


def test_select_is_sorted_and_keeps_stats() -> None:
    listing = [
        FileInfo(f"{LS}/CURRENT", 16, 0o600, 5),
        FileInfo("Default/GPUCache/data_0", 10_000, 0o600, 1),
        FileInfo(f"{IDB}/000005.ldb", 2_000_000, 0o644, 7),
    ]
    chosen = select(listing, "browser")
    assert [e.path for e in chosen] == [f"{IDB}/000005.ldb", f"{LS}/CURRENT"]
    assert chosen[0].size == 2_000_000
    assert chosen[0].mode == 0o644
    assert chosen[0].mtime_ns == 7


def test_unknown_engine_is_an_error() -> None:
    with pytest.raises(ValueError, match="no capture rules"):
        rule_for("x", "telegram")
