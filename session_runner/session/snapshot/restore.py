"""Restore: download, verify, decrypt, decompress into staging, then swap into place atomically.

Memory stays bounded whatever the session's size: chunks are fetched by a
fixed pool of workers with at most `concurrency` chunks in flight; each
chunk is opened into one of a few reused buffers (about one per CPU) and
written at its offset as soon as it is verified, with O_DIRECT where the
filesystem takes it, so neither the process nor the page cache grows with
the session (`restore_io`). A new fetch starts as soon as any one ends, and
each file is fsynced by the worker that writes its last chunk, overlapping
the flush with the other downloads. Nothing touches the session dir until
every chunk of every file has verified and every file has its recorded size;
then the old dir is renamed away, the staging dir renamed in, and both
renames made durable (fsync of the parent). A crash at any point leaves
either the old session dir, or no session dir and a complete staging dir the
next restore ignores and rebuilds.

A snapshot that fails verification (a corrupt or missing chunk, a manifest
whose MAC does not match, a format-4 manifest written by another account's
uid: `check_account`) is skipped for the next older one; the result says
which snapshot was used and carries a warning for the runner to report.

The latest-pointer picks the snapshot only when its MAC verifies under the
data key of the manifest it names (`pointer_distrust`; a pointer without a
MAC is trusted only for a manifest older than format 4, which predates
pointer MACs). An untrusted pointer is ignored as if there were none: every
manifest is a candidate, newest first, and the warning says why.

A chunk whose object fails to open is downloaded once more (a bad read is
not a bad object); if it fails again it is marked suspect in the store
(`SnapshotStore.mark_suspect`), so the next snapshot that holds its content
uploads it again instead of reusing the broken object, which repairs every
snapshot that references it. `verify_snapshot` checks a snapshot the same way
without writing any file, and marks every corrupt chunk it finds.

A chunk's recorded `stored_size` is not compared with the object: a repaired
chunk may be compressed at another level than the one an older manifest
recorded. Nothing is lost by that: decryption (GCM tag), the decompressed
size and the keyed content hash (under the manifest's `id_scheme`) verify
every byte.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hmac
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from session_runner.session.snapshot import metrics
from session_runner.session.snapshot.crypto import (
    ChunkCorrupt,
    DataKey,
    IdScheme,
    KeyRing,
    KeyRingError,
)
from session_runner.session.snapshot.manifest import ChunkRef, LatestPointer, Manifest
from session_runner.session.snapshot.restore_io import (
    ChunkScratch,
    RestoreWriter,
    ScratchPool,
    scratch_count,
    supports_direct_io,
)
from session_runner.session.snapshot.store import SnapshotNotFound, SnapshotStore

log = logging.getLogger(__name__)

RESTORE_PREFIX = ".wafleet-restore-"
OLD_PREFIX = ".wafleet-old-"
DEFAULT_CONCURRENCY = 8


class RestoreError(Exception):
    """No snapshot could be restored."""


class VerificationError(Exception):
    """A snapshot failed verification (its chunks, sizes, paths or MAC)."""


class ChunkMissing(VerificationError):  # noqa: N818 - reads as what happened
    """A chunk the manifest references is not in the store."""


class PointerUntrusted(VerificationError):  # noqa: N818 - reads as what happened
    """The latest-pointer's MAC does not verify: its choice of snapshot is not trusted."""


@dataclass(frozen=True)
class RestoreResult:
    snapshot_id: str
    files: int
    bytes: int
    warning: str | None = None

    @property
    def fell_back(self) -> bool:
        return self.warning is not None


def data_key_for(manifest: Manifest, keyring: KeyRing) -> DataKey:
    """The manifest's data key, unwrapped by the KEK it names, with the manifest's MAC checked.

    From format 4 the key is bound to the manifest's account uid: a manifest
    whose uid was edited does not even unwrap its key.
    """
    key = DataKey.unwrap(
        keyring.kek(manifest.key_id), manifest.wrapped_data_key, manifest.bound_uid
    )
    if not hmac.compare_digest(manifest.mac, key.mac(manifest.body_for_mac())):
        raise VerificationError(f"manifest {manifest.snapshot_id}: MAC mismatch (edited?)")
    return key


def check_account(manifest: Manifest, accept_uids: frozenset[str] | None) -> None:
    """Refuse a format-4 snapshot another account (uid) wrote; None accepts any (tools).

    Formats 1-3 carry no uid: they predate the binding and pass (the owner
    check before the restore is what guards them).
    """
    if accept_uids is None or manifest.format < 4 or manifest.account_uid in accept_uids:
        return
    ours = ", ".join(sorted(u for u in accept_uids if u)) or "none"
    raise VerificationError(
        f"snapshot {manifest.snapshot_id} was written by account uid {manifest.account_uid}, "
        f"not this account (uid {ours})"
    )


def pointer_distrust(pointer: LatestPointer, manifest: Manifest, key: DataKey) -> str | None:
    """Why the pointer naming `manifest` (whose verified data key is `key`) is not trusted.

    None when it is: its MAC verifies under the manifest's data key, or it
    carries no MAC and names a pre-format-4 manifest (written before pointers
    were authenticated: the upgrade path).
    """
    if not pointer.mac:
        if manifest.format < 4:
            return None
        return "it carries no MAC"
    if (pointer.key_id, pointer.account_uid) != (key.key_id, key.uid):
        return "its key id or account uid is not the snapshot's"
    if not hmac.compare_digest(pointer.mac, key.pointer_mac(pointer.body_for_mac())):
        return "its MAC does not verify"
    return None


def _safe_path(root: Path, relative: str) -> Path:
    """Where a manifest path lands; refuses absolute paths and `..` (defence in depth)."""
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts:
        raise VerificationError(f"unsafe path in manifest: {relative!r}")
    return root.joinpath(*parts)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chunk_jobs(manifest: Manifest) -> Iterator[tuple[int, int]]:
    """(file index, chunk index) of every chunk, in file order."""
    for index, record in enumerate(manifest.files):
        for n in range(len(record.chunks)):
            yield index, n


@contextlib.contextmanager
def verified_chunk(
    store: SnapshotStore,
    key: DataKey,
    ref: ChunkRef,
    scratches: ScratchPool,
    scheme: IdScheme,
) -> Iterator[ChunkScratch]:
    """A scratch holding one chunk's verified plaintext, lent for the `with` block.

    The download happens before a scratch is borrowed, so the few buffers
    are held only while a chunk is opened and written. Raises ChunkMissing,
    or VerificationError after a second bad download (the chunk is then
    marked suspect).
    """
    error: ChunkCorrupt | None = None
    for attempt in range(2):
        try:
            blob = store.get_chunk(ref.id)
        except SnapshotNotFound as missing:
            raise ChunkMissing(str(missing)) from missing
        with scratches.borrow() as scratch:
            try:
                plain = scratch.plain_view(ref.size)
                key.open_chunk_into(blob, ref.id, plain, scratch.compressed, scheme)
            except ChunkCorrupt as corrupt:
                error = corrupt
            else:
                del blob
                yield scratch
                return
        if attempt == 0:
            log.warning("%s; downloading it again", error)
    _mark_suspect(store, ref.id)
    raise VerificationError(str(error)) from error


def largest_chunk(manifest: Manifest) -> int:
    """The plaintext size of the manifest's largest chunk: what each scratch buffer must hold."""
    return max((c.size for f in manifest.files for c in f.chunks), default=0)


def scratch_pool(manifest: Manifest, concurrency: int) -> ScratchPool:
    """The buffers one restore or verification of `manifest` opens its chunks into."""
    return ScratchPool(scratch_count(concurrency, os.cpu_count() or 1), largest_chunk(manifest))


def _mark_suspect(store: SnapshotStore, chunk_id: str) -> None:
    """Best effort: a restore must not fail because it cannot write (read-only credentials)."""
    metrics.CORRUPT_CHUNKS.inc()
    try:
        store.mark_suspect(chunk_id)
    except Exception as error:
        log.warning("could not mark chunk %s for re-upload: %s", chunk_id, error)
    else:
        log.warning(
            "chunk %s is corrupt in the store: the next snapshot uploads it again", chunk_id
        )


def run_bounded(*, pool_size: int, jobs: Iterator[Callable[[], None]]) -> None:
    """Run `jobs` on `pool_size` threads with at most `pool_size` in flight; the first error wins.

    A new job starts as soon as any running one finishes (not the oldest), so
    one slow request does not stall the others. On an error the jobs not yet
    started are dropped and the error is raised once the running ones end.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=pool_size) as pool:
        running: set[concurrent.futures.Future[None]] = set()
        try:
            for job in jobs:
                if len(running) >= pool_size:
                    done, running = concurrent.futures.wait(
                        running, return_when=concurrent.futures.FIRST_COMPLETED
                    )
                    for future in done:
                        future.result()
                running.add(pool.submit(job))
            for future in concurrent.futures.as_completed(running):
                future.result()
        finally:
            for future in running:
                future.cancel()


def download_into(
    store: SnapshotStore,
    manifest: Manifest,
    key: DataKey,
    staging: Path,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    direct_io: bool = True,
) -> None:
    """Write every file of `manifest` into `staging`, verifying every chunk and size.

    Each file is created by the worker that first has a chunk for it, so
    creating ~150 files (~30 ms here) overlaps the downloads instead of
    preceding them. `direct_io`: bypass the page cache where the filesystem
    allows (`restore_io`); False forces buffered writes (tests cover both).
    """
    targets = [_safe_path(staging, record.path) for record in manifest.files]
    sizes = [[chunk.size for chunk in record.chunks] for record in manifest.files]
    offsets: list[list[int]] = []
    for record, chunk_sizes in zip(manifest.files, sizes, strict=True):
        starts, at = [], 0
        for size in chunk_sizes:
            starts.append(at)
            at += size
        if at != record.size:
            raise VerificationError(f"{record.path}: chunks add up to {at}, not {record.size}")
        offsets.append(starts)
    for directory in sorted({target.parent for target in targets}):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    writer = RestoreWriter(direct=direct_io and supports_direct_io(staging))
    scratches = scratch_pool(manifest, concurrency)
    fds: dict[int, int] = {}
    remaining = [len(record.chunks) for record in manifest.files]
    lock = threading.Lock()

    def fd_for(index: int) -> int:
        with lock:
            if index not in fds:
                fds[index] = writer.open(targets[index], sizes[index])
            return fds[index]

    def fetch(index: int, n: int) -> None:
        ref = manifest.files[index].chunks[n]
        with verified_chunk(store, key, ref, scratches, manifest.id_scheme) as scratch:
            fd = fd_for(index)
            writer.write(fd, scratch, ref.size, offsets[index][n])
        with lock:
            remaining[index] -= 1
            complete = remaining[index] == 0
        if complete:  # flush each file as it completes, overlapping the other downloads
            writer.finish(fd, manifest.files[index].size)

    try:
        run_bounded(
            pool_size=concurrency, jobs=(partial(fetch, i, n) for i, n in _chunk_jobs(manifest))
        )
        for index, record in enumerate(manifest.files):
            fd = fd_for(index)  # files without chunks (empty) are created here
            if not record.chunks:
                os.fsync(fd)
            if os.fstat(fd).st_size != record.size:
                raise VerificationError(f"{record.path}: size differs from the manifest")
    finally:
        for fd in fds.values():
            os.close(fd)
    for record, target in zip(manifest.files, targets, strict=True):
        os.chmod(target, record.mode)
        os.utime(target, ns=(record.mtime_ns, record.mtime_ns))


def _fsync_tree_dirs(root: Path) -> None:
    """Make the staged directory entries durable before the swap publishes them."""
    for dirpath, _dirnames, _filenames in os.walk(root, topdown=False):
        _fsync_dir(Path(dirpath))


def swap_into_place(staging: Path, session_dir: Path) -> None:
    """Replace `session_dir` by `staging` with renames, durable once this returns."""
    _fsync_tree_dirs(staging)
    parent = session_dir.parent
    old: Path | None = None
    if session_dir.exists():
        old = parent / f"{OLD_PREFIX}{session_dir.name}-{uuid.uuid4().hex[:12]}"
        session_dir.rename(old)
    staging.rename(session_dir)
    _fsync_dir(parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def clean_leftovers(session_dir: Path) -> None:
    """Remove staging and old dirs a crashed restore left beside the session dir."""
    parent = session_dir.parent
    if not parent.is_dir():
        return
    for pattern in (f"{RESTORE_PREFIX}{session_dir.name}-*", f"{OLD_PREFIX}{session_dir.name}-*"):
        for path in parent.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)


def open_manifest(
    store: SnapshotStore,
    keyring: KeyRing,
    snapshot_id: str,
    accept_uids: frozenset[str] | None = None,
) -> tuple[Manifest, DataKey]:
    """The manifest and its data key, MAC and account checked; VerificationError otherwise."""
    try:
        manifest = store.get_manifest(snapshot_id)
        key = data_key_for(manifest, keyring)
    except (SnapshotNotFound, KeyRingError, ValueError) as error:
        raise VerificationError(f"snapshot {snapshot_id}: {error}") from error
    check_account(manifest, accept_uids)
    return manifest, key


def restore_snapshot(
    store: SnapshotStore,
    keyring: KeyRing,
    snapshot_id: str,
    session_dir: Path,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    accept_uids: frozenset[str] | None = None,
    pointer: LatestPointer | None = None,
) -> Manifest:
    """Restore exactly `snapshot_id`, or raise VerificationError leaving `session_dir` untouched.

    `accept_uids`: the account uids whose format-4 snapshots may be restored
    (None: any). `pointer`: the latest-pointer that chose this snapshot; it
    is checked before anything is downloaded (PointerUntrusted).
    """
    manifest, key = open_manifest(store, keyring, snapshot_id, accept_uids)
    if pointer is not None:
        reason = pointer_distrust(pointer, manifest, key)
        if reason is not None:
            raise PointerUntrusted(
                f"the latest-pointer naming {snapshot_id} is not trusted: {reason}"
            )
    session_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = session_dir.parent / f"{RESTORE_PREFIX}{session_dir.name}-{uuid.uuid4().hex[:12]}"
    staging.mkdir(mode=0o700)
    try:
        download_into(store, manifest, key, staging, concurrency=concurrency)
        swap_into_place(staging, session_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return manifest


def restore_with_fallback(
    store: SnapshotStore,
    keyring: KeyRing,
    session_dir: Path,
    *,
    restore_from: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    accept_uids: frozenset[str] | None = None,
) -> RestoreResult | None:
    """Restore the best verifiable snapshot; None when the store holds none (a fresh account).

    Candidates, best first: the chosen one (`restore_from`, else the
    pointer's), then older ones. Manifests newer than a trusted pointer are
    runs that crashed before moving it (or fenced writers): never restored by
    default. The manifests are listed only when the first choice fails (or
    there is none): a restore that succeeds reads the pointer and one
    manifest, no LIST. An untrusted pointer counts as none: every manifest is
    a candidate, newest first.
    """
    clean_leftovers(session_dir)
    pointer: LatestPointer | None = None
    if restore_from is None:
        pointer, _ = store.read_pointer()
    first = restore_from if restore_from is not None else (pointer.snapshot_id if pointer else None)
    failures: list[str] = []
    distrust: str | None = None

    def attempt(snapshot_id: str, chooser: LatestPointer | None) -> RestoreResult:
        manifest = restore_snapshot(
            store,
            keyring,
            snapshot_id,
            session_dir,
            concurrency=concurrency,
            accept_uids=accept_uids,
            pointer=chooser,
        )
        return RestoreResult(
            snapshot_id,
            manifest.totals.files,
            manifest.totals.bytes,
            warning=_warning(snapshot_id, first, distrust, failures),
        )

    if first is not None:
        try:
            return attempt(first, pointer)
        except PointerUntrusted as error:
            log.warning("%s", error)
            distrust = str(error)
        except VerificationError as error:
            log.warning("snapshot %s failed verification: %s", first, error)
            failures.append(f"{first} ({error})")
    ids = sorted(store.list_snapshot_ids(), reverse=True)
    if first is not None and distrust is None:
        ids = [i for i in ids if i < first]
    for snapshot_id in ids:
        try:
            return attempt(snapshot_id, None)
        except VerificationError as error:
            log.warning("snapshot %s failed verification: %s", snapshot_id, error)
            failures.append(f"{snapshot_id} ({error})")
    if first is None and not failures:
        return None
    reasons = ([distrust] if distrust else []) + failures
    raise RestoreError("no snapshot could be restored: " + "; ".join(reasons))


def _warning(
    restored: str, first: str | None, distrust: str | None, failures: list[str]
) -> str | None:
    """What the runner reports when the restore did not simply take the first choice."""
    parts: list[str] = []
    if distrust is not None:
        parts.append(
            f"{distrust}; restored the newest verifiable snapshot in the store, {restored}"
        )
    if failures:
        head = "" if distrust is not None else f"restored snapshot {restored} instead of {first}: "
        parts.append(head + "; ".join(failures) + " failed verification")
    return "; ".join(parts) or None


@dataclass(frozen=True)
class VerifyReport:
    """What `verify_snapshot` found: chunk ids whose objects are corrupt or missing."""

    snapshot_id: str
    chunks: int
    corrupt: list[str]
    missing: list[str]

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.missing


def verify_snapshot(
    store: SnapshotStore,
    keyring: KeyRing,
    snapshot_id: str,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    accept_uids: frozenset[str] | None = None,
) -> VerifyReport:
    """Download and verify every chunk of a snapshot, writing nothing; mark corrupt ones suspect.

    Unlike a restore it does not stop at the first bad chunk, so one pass
    finds (and gets the next snapshot to repair) all of them. Raises
    VerificationError when the manifest itself cannot be read, fails its MAC,
    or was written by an account uid not in `accept_uids` (None: any).
    """
    manifest, key = open_manifest(store, keyring, snapshot_id, accept_uids)
    refs = {c.id: c for f in manifest.files for c in f.chunks}
    corrupt: list[str] = []
    missing: list[str] = []
    scratches = scratch_pool(manifest, concurrency)

    def check(ref: ChunkRef) -> None:
        try:
            with verified_chunk(store, key, ref, scratches, manifest.id_scheme):
                pass
        except ChunkMissing:
            missing.append(ref.id)
        except VerificationError:
            corrupt.append(ref.id)

    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(check, refs.values()))
    return VerifyReport(snapshot_id, len(refs), sorted(corrupt), sorted(missing))
