"""The I/O side of capture: list the session dir, then freeze the chosen files in a staging dir.

The staging dir sits next to the session dir (same filesystem, so hard links
work and renames are atomic). Staging is the only part of a snapshot that
must happen while the engine is quiesced; chunking, encryption and upload
then read the frozen copy while the engine runs again.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

from session_runner.session.snapshot.capture import FileEntry, FileInfo, Method, select

STAGING_PREFIX = ".wafleet-capture-"


def list_tree(root: Path) -> list[FileInfo]:
    """Every regular file under `root` (symlinks are not followed), relative POSIX paths."""
    infos: list[FileInfo] = []
    if not root.is_dir():
        return infos
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            st = full.lstat()
            if not stat.S_ISREG(st.st_mode):
                continue
            rel = full.relative_to(root).as_posix()
            infos.append(FileInfo(rel, st.st_size, stat.S_IMODE(st.st_mode), st.st_mtime_ns))
    return infos


def select_files(root: Path, engine: str) -> list[FileEntry]:
    """The files of the session dir `root` a snapshot of `engine` captures."""
    return select(list_tree(root), engine)


def new_staging_dir(session_dir: Path) -> Path:
    """A fresh, empty, private dir beside `session_dir`."""
    parent = session_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f"{STAGING_PREFIX}{session_dir.name}-{uuid.uuid4().hex[:12]}"
    path.mkdir(mode=0o700)
    return path


def stale_staging_dirs(session_dir: Path) -> Iterator[Path]:
    """Staging dirs a crashed snapshot left behind."""
    parent = session_dir.parent
    if parent.is_dir():
        yield from parent.glob(f"{STAGING_PREFIX}{session_dir.name}-*")


def stage(session_dir: Path, entries: list[FileEntry], staging: Path) -> list[FileEntry]:
    """Freeze `entries` into `staging`; return them with the sizes of the frozen copies.

    Files that vanished since the listing (LevelDB compaction deletes tables)
    are skipped: the listing and the copy are both taken while quiesced, so
    this only happens for engines that need no quiescing.
    """
    frozen: list[FileEntry] = []
    for entry in entries:
        source = session_dir / entry.path
        target = staging / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            _freeze(source, target, entry.method)
        except FileNotFoundError:
            continue
        size = target.stat().st_size
        frozen.append(FileEntry(entry.path, size, entry.mode, entry.mtime_ns, entry.method))
    return frozen


def _freeze(source: Path, target: Path, method: Method) -> None:
    if method is Method.LINK:
        try:
            os.link(source, target)
            return
        except OSError as error:
            if isinstance(error, FileNotFoundError):
                raise
            # another filesystem, or links not allowed: a copy is just as consistent
    if method is Method.SQLITE_BACKUP:
        sqlite_backup(source, target)
        return
    shutil.copyfile(source, target)


def sqlite_backup(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database through the online backup API, in one step.

    One step, not a page budget per step: SQLite restarts an incremental backup
    whenever another connection writes between steps, so with whatsmeow writing
    every few milliseconds a stepped backup never finished (seen in the snapshot
    bench).

    The copy is scratch (chunked, uploaded, deleted), so it gets no journal and
    no fsync. Its fsync used to hold the engine's own commits: on ext4 a
    writer's fsync waits for the journal commit that the copy's fsync started.
    Measured (`measure_sqlite`, 32 MiB store in WAL mode, a commit every 10 ms,
    5 runs): the longest commit during the backup went from 10-23 ms to
    0.1-3 ms beyond the median (commits without a backup reach 1-3 ms), and the
    backup from 80-134 ms to 52-66 ms.
    """
    if not source.exists():
        raise FileNotFoundError(source)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            dst.execute("PRAGMA journal_mode=OFF")
            dst.execute("PRAGMA synchronous=OFF")
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
