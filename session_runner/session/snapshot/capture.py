"""What a snapshot captures, per engine: the one list, with the reason for each entry.

A raw Chromium profile grows to gigabytes, almost all of it caches that the
browser rebuilds by itself; the login is a few megabytes of IndexedDB and
localStorage. Copying whole profiles is why today's tools take minutes and
restore torn archives. So capture is an allow-list: a file is captured only if
an include rule names it and no exclude rule does. Everything here is pure
(it works on a listing); `staging.py` does the copying.

Each include rule says how its files are taken:

* `link`  — the file is never modified once written (LevelDB table files,
  IndexedDB blob files): a hard link made while the engine is quiesced is a
  consistent copy forever, costs no I/O, and its identical chunks dedupe
  against earlier snapshots, so an unchanged session uploads nothing.
* `copy`  — the file is rewritten or appended in place (LevelDB .log,
  MANIFEST, CURRENT, JSON files): it must be copied while quiesced, since a
  hard link would keep changing after the engine relaunches.
* `sqlite_backup` — a SQLite database taken through SQLite's online backup
  API (a consistent copy while the engine keeps writing: no downtime).

Patterns are `fnmatch` patterns over the POSIX path relative to the session
dir (`*` also matches `/`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Method(StrEnum):
    LINK = "link"
    COPY = "copy"
    SQLITE_BACKUP = "sqlite_backup"


@dataclass(frozen=True)
class CaptureRule:
    """Files matching `pattern` are captured with `method`, because of `reason`."""

    pattern: str
    method: Method
    reason: str


@dataclass(frozen=True)
class ExcludeRule:
    """Files matching `pattern` are never captured, because of `reason` (wins over includes)."""

    pattern: str
    reason: str


@dataclass(frozen=True)
class FileInfo:
    """One regular file of a listing: what `select` looks at."""

    path: str  # POSIX, relative to the session dir
    size: int
    mode: int
    mtime_ns: int


@dataclass(frozen=True)
class FileEntry:
    """A file chosen for capture, with the rule that chose it."""

    path: str
    size: int
    mode: int
    mtime_ns: int
    method: Method


WA_IDB = "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb"
WA_IDB_BLOBS = "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.blob"
LOCAL_STORAGE = "Default/Local Storage/leveldb"

_KEYS_REASON = (
    "WhatsApp Web keeps its credentials (noise and signal keys, the device identity) "
    "in this origin's IndexedDB"
)
_LS_REASON = "WhatsApp Web keeps its browser id and session tokens in localStorage"

BROWSER_RULES: tuple[CaptureRule, ...] = (
    CaptureRule(f"{WA_IDB}/*.ldb", Method.LINK, f"{_KEYS_REASON}; table files never change"),
    CaptureRule(f"{WA_IDB}/*.sst", Method.LINK, f"{_KEYS_REASON}; older LevelDB table name"),
    CaptureRule(f"{WA_IDB}/*.log", Method.COPY, "recent IndexedDB writes not yet compacted"),
    CaptureRule(f"{WA_IDB}/CURRENT", Method.COPY, "names the live LevelDB MANIFEST"),
    CaptureRule(f"{WA_IDB}/MANIFEST-*", Method.COPY, "lists the table files that form the db"),
    CaptureRule(
        f"{WA_IDB_BLOBS}/*",
        Method.LINK,
        "IndexedDB values too large for LevelDB, referenced by it; written once",
    ),
    CaptureRule(f"{LOCAL_STORAGE}/*.ldb", Method.LINK, f"{_LS_REASON}; table files never change"),
    CaptureRule(f"{LOCAL_STORAGE}/*.log", Method.COPY, "recent localStorage writes"),
    CaptureRule(f"{LOCAL_STORAGE}/CURRENT", Method.COPY, "names the live LevelDB MANIFEST"),
    CaptureRule(f"{LOCAL_STORAGE}/MANIFEST-*", Method.COPY, "lists the localStorage tables"),
    CaptureRule(
        "Local State",
        Method.COPY,
        "browser-wide profile metadata Chromium reads before it opens the profile (a few KB)",
    ),
    CaptureRule(
        "Default/Preferences",
        Method.COPY,
        "per-profile settings and site permissions; the quiesced copy records a clean "
        "exit, so the restored browser does not start in crash-recovery mode (a few KB)",
    ),
)
"""Browser engine. Deliberately not captured (no include rule matches them):

* `Default/Session Storage` — sessionStorage dies with the tab by definition;
  WhatsApp Web keeps nothing there that survives a reload.
* `Default/Service Worker` — the app-shell script cache (CacheStorage) of
  WhatsApp Web's worker; it re-registers and refills it on the next load.
* `Default/Cookies` — WhatsApp Web's login does not live in cookies:
  whatsapp-web.js RemoteAuth restores only IndexedDB and Local Storage.
* `Cache`, `Code Cache`, `GPUCache`, `Crashpad`, `blob_storage`, shader and
  GrShader caches, `Default/IndexedDB` of other origins — caches and crash
  dumps, most of a profile's bytes and none of its state; sparse
  preallocated files live among them.
"""

BROWSER_EXCLUDES: tuple[ExcludeRule, ...] = (
    ExcludeRule("*/LOCK", "a LevelDB lock file: empty, held by the live process"),
    ExcludeRule("*/LOG", "LevelDB's human-readable info log, not data"),
    ExcludeRule("*/LOG.old", "the previous info log, not data"),
)

PROTOCOL_RULES: tuple[CaptureRule, ...] = (
    CaptureRule(
        "*.sqlite",
        Method.SQLITE_BACKUP,
        "neonize/whatsmeow's store (device keys, sessions, app state) via the online backup",
    ),
    CaptureRule("*.sqlite3", Method.SQLITE_BACKUP, "the same store under another suffix"),
    CaptureRule("*.db", Method.SQLITE_BACKUP, "the same store under another suffix"),
)

PROTOCOL_EXCLUDES: tuple[ExcludeRule, ...] = (
    ExcludeRule("*-wal", "folded into the backup copy, which is one self-contained file"),
    ExcludeRule("*-shm", "shared-memory index of the WAL, rebuilt on open"),
    ExcludeRule("*-journal", "rollback journal, folded into the backup copy"),
)

LOCAL_RULES: tuple[CaptureRule, ...] = (
    CaptureRule(
        "local-session.json", Method.COPY, "the simulated engine's whole session (tests, demo)"
    ),
)

CAPTURE_RULES: dict[str, tuple[tuple[CaptureRule, ...], tuple[ExcludeRule, ...]]] = {
    "browser": (BROWSER_RULES, BROWSER_EXCLUDES),
    "protocol": (PROTOCOL_RULES, PROTOCOL_EXCLUDES),
    "local": (LOCAL_RULES, ()),
}
"""Engine kind → (include rules, exclude rules)."""


def rule_for(path: str, engine: str) -> CaptureRule | None:
    """The include rule that captures `path` for `engine`, or None when it is not captured."""
    try:
        includes, excludes = CAPTURE_RULES[str(engine)]
    except KeyError:
        raise ValueError(f"no capture rules for engine {engine!r}") from None
    if any(fnmatch.fnmatchcase(path, rule.pattern) for rule in excludes):
        return None
    return next((rule for rule in includes if fnmatch.fnmatchcase(path, rule.pattern)), None)


def select(listing: Iterable[FileInfo], engine: str) -> list[FileEntry]:
    """The files of `listing` a snapshot of `engine` captures, sorted by path."""
    chosen: list[FileEntry] = []
    for info in listing:
        rule = rule_for(info.path, engine)
        if rule is not None:
            chosen.append(FileEntry(info.path, info.size, info.mode, info.mtime_ns, rule.method))
    return sorted(chosen, key=lambda entry: entry.path)
