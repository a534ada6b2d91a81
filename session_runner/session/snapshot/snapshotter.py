"""Take and restore snapshots; the runner's `restore` and `snapshot` hooks.

A snapshot is: check the prefix is this account's (owner.json, bound to the
account's uid: `ownership.decide_owner`; a restore checks it first too), freeze the captured files in a
staging dir while the engine is quiesced (hard links and small copies: the
only downtime), then, with the engine running again, chunk, compress,
encrypt and upload the chunks the store does not hold yet, write the
manifest (If-None-Match) and move the latest-pointer by compare-and-swap.
The pointer moves last, so a crash anywhere before it leaves the previous
snapshot as the latest; chunks already uploaded are reused by the next try.

Blocking work (files, hashing, zstd, AES, boto3) runs in worker threads; the
event loop only waits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from session_runner.session.lease.fencing import FencedOutError, token_accepts
from session_runner.session.snapshot import metrics
from session_runner.session.snapshot.capture import FileEntry, Method
from session_runner.session.snapshot.chunks import (
    CHUNK_SIZE,
    IMMUTABLE_CHUNK_SIZE,
    Upload,
    chunk_size_for,
    iter_chunks,
    upload_action,
)
from session_runner.session.snapshot.crypto import DataKey, KeyRing, KeyRingError, load_kek
from session_runner.session.snapshot.gc import collect_garbage
from session_runner.session.snapshot.keys import KeyUsage, key_usage
from session_runner.session.snapshot.manifest import (
    ChunkRef,
    FileRecord,
    KeyDoc,
    Manifest,
    Totals,
    new_snapshot_id,
    utcnow,
)
from session_runner.session.snapshot.ownership import Action, restorable_uids
from session_runner.session.snapshot.restore import (
    DEFAULT_CONCURRENCY,
    RestoreResult,
    VerificationError,
    open_manifest,
    pointer_distrust,
    verify_snapshot,
)
from session_runner.session.snapshot.restore import restore_with_fallback as _restore_sync
from session_runner.session.snapshot.retention import DEFAULT_GRACE
from session_runner.session.snapshot.staging import (
    new_staging_dir,
    select_files,
    stage,
    stale_staging_dirs,
)
from session_runner.session.snapshot.store import SnapshotStore, account_store
from session_runner.session.snapshot.verify import VerifyHook, VerifyOutcome, metrics_result

log = logging.getLogger(__name__)

Hook = Callable[[Path, int], Awaitable[None]]
Quiesce = Callable[[], AbstractAsyncContextManager[None]]


class NothingToCapture(Exception):  # noqa: N818 - reads as what happened
    """The session dir holds none of the engine's state: a snapshot would erase the last good one."""


@dataclass(frozen=True)
class SnapshotResult:
    id: str
    bytes_uploaded: int
    seconds: float
    files: int
    chunks_new: int
    chunks_reused: int
    total_bytes: int


def account_data_key(store: SnapshotStore, keyring: KeyRing, uid: str = "") -> DataKey:
    """The account's long-lived data key under the current KEK for `uid`, created on first use.

    One per (KEK, uid): a rotation, an adoption and the first snapshot after
    a store is bound to a uid each start a fresh one (and upload everything once).
    """
    kek = keyring.current
    doc = store.get_key_doc(keyring.current_id, uid)
    if doc is None:
        fresh = DataKey.generate(kek, uid)
        doc = store.create_key_doc(
            KeyDoc(
                key_id=fresh.key_id, wrapped_data_key=fresh.wrapped, created_at=utcnow(), uid=uid
            )
        )
    return DataKey.unwrap(kek, doc.wrapped_data_key, uid)


def _upload_files(
    store: SnapshotStore,
    key: DataKey,
    staging: Path,
    entries: list[FileEntry],
    *,
    chunk_size: int,
    immutable_chunk_size: int,
    concurrency: int,
) -> tuple[list[FileRecord], Totals]:
    """Chunk every staged file and upload the chunks the store lacks; bounded memory.

    The calling thread reads and hashes; a pool of `concurrency` workers
    compresses, encrypts and uploads (zstd, AES-GCM, hashing and sockets all
    release the GIL), with at most `concurrency` chunks in flight.
    """
    known = {cid: obj.size for cid, obj in store.list_chunks().items()}
    suspect = store.list_suspects()
    uploading: dict[str, concurrent.futures.Future[int]] = {}
    replaced: list[str] = []
    refs: list[list[tuple[str, int]]] = []
    new = 0

    def seal_and_put(box: list[bytes], chunk_id: str, action: Upload) -> int:
        blob = key.seal_chunk(box.pop(), chunk_id)  # the plaintext is freed while it uploads
        if action is Upload.REPLACE:
            store.replace_chunk(chunk_id, blob)
        else:
            store.put_chunk(chunk_id, blob)
        return len(blob)

    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        window: set[concurrent.futures.Future[int]] = set()
        for entry in entries:
            file_refs: list[tuple[str, int]] = []
            size = chunk_size_for(entry.method, chunk_size, immutable_chunk_size)
            for plain in iter_chunks(staging / entry.path, size):
                chunk_id = key.chunk_id(plain)
                file_refs.append((chunk_id, len(plain)))
                action = upload_action(
                    in_store=chunk_id in known,
                    suspect=chunk_id in suspect,
                    queued=chunk_id in uploading,
                )
                if action is Upload.SKIP:
                    continue  # never upload a chunk the store (or this run) already has
                new += 1
                if action is Upload.REPLACE:
                    replaced.append(chunk_id)
                if len(window) >= concurrency:  # the next starts when any one ends
                    done, window = concurrent.futures.wait(
                        window, return_when=concurrent.futures.FIRST_COMPLETED
                    )
                    for finished in done:
                        finished.result()
                future = pool.submit(seal_and_put, [plain], chunk_id, action)
                del plain
                uploading[chunk_id] = future
                window.add(future)
            refs.append(file_refs)
        for future in concurrent.futures.as_completed(window):
            future.result()
    if replaced:  # the objects are good again: no later snapshot needs to re-upload them
        store.clear_suspects(replaced)
        metrics.REPAIRED_CHUNKS.inc(len(replaced))
        log.warning("re-uploaded %d chunk(s) found corrupt in the store", len(replaced))
    stored = {**known, **{cid: f.result() for cid, f in uploading.items()}}
    records = [
        FileRecord(
            path=entry.path,
            mode=entry.mode,
            size=entry.size,
            mtime_ns=entry.mtime_ns,
            chunks=[ChunkRef(id=cid, size=size, stored_size=stored[cid]) for cid, size in frefs],
        )
        for entry, frefs in zip(entries, refs, strict=True)
    ]
    for record in records:
        actual = sum(c.size for c in record.chunks)
        if actual != record.size:  # the staged copy changed under us: never record a lie
            raise RuntimeError(f"{record.path} changed while it was read")
    all_refs = [c for r in records for c in r.chunks]
    totals = Totals(
        files=len(records),
        bytes=sum(r.size for r in records),
        stored_bytes=sum(c.stored_size for c in all_refs),
        chunks=len(all_refs),
        chunks_new=new,
        bytes_uploaded=sum(f.result() for f in uploading.values()),
    )
    return records, totals


def _check_fence(store: SnapshotStore, token: int) -> None:
    """Fail fast when a newer lease holder has moved the pointer (before any expensive work)."""
    pointer, _ = store.read_pointer()
    if pointer is not None and not token_accepts(pointer.fencing_token, token):
        raise FencedOutError(f"latest-pointer token {pointer.fencing_token} > ours {token}")


def _commit(
    store: SnapshotStore,
    keyring: KeyRing,
    staging: Path,
    entries: list[FileEntry],
    *,
    engine: str,
    engine_version: str,
    token: int,
    uid: str,
    chunk_size: int,
    immutable_chunk_size: int,
    concurrency: int,
) -> Manifest:
    _check_fence(store, token)
    key = account_data_key(store, keyring, uid)
    records, totals = _upload_files(
        store,
        key,
        staging,
        entries,
        chunk_size=chunk_size,
        immutable_chunk_size=immutable_chunk_size,
        concurrency=concurrency,
    )
    manifest = Manifest(
        snapshot_id=new_snapshot_id(),
        engine=engine,
        engine_version=engine_version,
        fencing_token=token,
        created_at=utcnow(),
        key_id=key.key_id,
        wrapped_data_key=key.wrapped,
        chunk_size=chunk_size,
        immutable_chunk_size=chunk_size_for(Method.LINK, chunk_size, immutable_chunk_size),
        files=records,
        totals=totals,
        account_uid=uid,
    )
    manifest = manifest.model_copy(update={"mac": key.mac(manifest.body_for_mac())})
    # Again just before the manifest: a runner fenced during the upload writes no manifest,
    # so the new holder's GC cannot leave one behind that references chunks it collected.
    _check_fence(store, token)
    store.put_manifest(manifest)
    store.move_pointer(manifest.snapshot_id, token, key)
    return manifest


def _freeze(session_dir: Path, engine: str, staging: Path) -> list[FileEntry]:
    return stage(session_dir, select_files(session_dir, engine), staging)


async def take_snapshot(
    session_dir: Path,
    engine_kind: str,
    token: int,
    store: SnapshotStore,
    keyring: KeyRing,
    *,
    owner: str | None = None,
    uid: str = "",
    adopt_uid: str | None = None,
    quiesce: Quiesce | None = None,
    engine_version: str = "",
    chunk_size: int = CHUNK_SIZE,
    immutable_chunk_size: int = IMMUTABLE_CHUNK_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> SnapshotResult:
    """Snapshot `session_dir` under fencing `token`; FencedOutError when a newer holder wrote.

    With `owner` (`namespace/name`) the prefix must be the account's first
    (`SnapshotStore.ensure_owner` with `uid` and `adopt_uid`: OwnershipRefused
    otherwise), and the snapshot is written as the uid the store is bound to.
    """
    started = time.monotonic()
    if owner is not None:
        decision = await asyncio.to_thread(store.ensure_owner, owner, uid, adopt_uid)
        uid = decision.uid
    for leftover in stale_staging_dirs(session_dir):
        await asyncio.to_thread(shutil.rmtree, leftover, True)
    staging = await asyncio.to_thread(new_staging_dir, session_dir)
    try:
        hold = quiesce() if quiesce is not None else contextlib.nullcontext()
        async with hold:
            entries = await asyncio.to_thread(_freeze, session_dir, str(engine_kind), staging)
        if not entries:
            raise NothingToCapture(f"{session_dir} holds no {engine_kind} session state")
        manifest = await asyncio.to_thread(
            _commit,
            store,
            keyring,
            staging,
            entries,
            engine=str(engine_kind),
            engine_version=engine_version,
            token=token,
            uid=uid,
            chunk_size=chunk_size,
            immutable_chunk_size=immutable_chunk_size,
            concurrency=concurrency,
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)
    totals = manifest.totals
    return SnapshotResult(
        id=manifest.snapshot_id,
        bytes_uploaded=totals.bytes_uploaded,
        seconds=time.monotonic() - started,
        files=totals.files,
        chunks_new=totals.chunks_new,
        chunks_reused=totals.chunks - totals.chunks_new,
        total_bytes=totals.bytes,
    )


async def restore_latest(
    session_dir: Path,
    store: SnapshotStore,
    keyring: KeyRing,
    *,
    restore_from: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    owner: str | None = None,
    uid: str = "",
    adopt_uid: str | None = None,
) -> RestoreResult | None:
    """Restore the latest (or `restore_from`) verifiable snapshot; None when there is none.

    With `owner` the prefix's ownership is checked first, exactly as before a
    snapshot (claimed, bound or adopted as `ownership.decide_owner` says, or
    OwnershipRefused before anything is read). Only snapshots of the uids
    the decision allows restore (`restorable`); without `owner`, those of
    `uid` and `adopt_uid`.
    """
    accept = restorable_uids(uid, adopt_uid)
    if owner is not None:
        decision = await asyncio.to_thread(store.ensure_owner, owner, uid, adopt_uid)
        if decision.action is not Action.ACCEPT:
            log.info("%s", decision.reason)
        accept = decision.restorable
    return await asyncio.to_thread(
        _restore_sync,
        store,
        keyring,
        session_dir,
        restore_from=restore_from,
        concurrency=concurrency,
        accept_uids=accept,
    )


def load_keyring(path: Path) -> KeyRing:
    """The current KEK at `path`, older ones beside it as `<name>.<anything>`.

    Mount the encryption-key Secret as a directory with `key` (current) and,
    after a rotation, `key.1`, `key.2` … (retired keys still needed to read
    old snapshots).
    """
    older = [load_kek(p) for p in sorted(path.parent.glob(f"{path.name}.*")) if p.is_file()]
    return KeyRing(load_kek(path), tuple(older))


def client_config() -> Any:
    """The botocore Config of the snapshot store's client.

    Uploads carry a CRC32 (botocore's default), so a real S3 refuses a body
    damaged on the way. Downloads are not CRC-checked by botocore
    (`response_checksum_validation="when_required"`): `open_chunk_into`
    verifies every byte of every chunk anyway (GCM tag, size, content hash),
    so the CRC pass would be a second check of the same bytes (small: zlib's
    CRC32 runs at ~6 GB/s here, ~0.02 s of CPU per 140 MB restored).
    """
    from botocore.config import Config

    return Config(
        retries={"max_attempts": 3, "mode": "standard"},
        response_checksum_validation="when_required",
    )


def s3_client(settings: Any) -> Any:
    """A boto3 S3 client for the account's snapshot endpoint (credentials from the environment)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=settings.snapshot_endpoint_url,
        region_name=settings.snapshot_region,
        config=client_config(),
    )


def _wafleet_version() -> str:
    """Recorded in manifests, so a restore can tell which build wrote the session."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"wafleet {version('wafleet')}"
    except PackageNotFoundError:
        return "wafleet (unpackaged)"


def keys_in_use(store: SnapshotStore, keyring: KeyRing) -> KeyUsage:
    """Which KEKs the store's snapshots were written under, against the key ring.

    Every manifest in the store counts: GC applies retention after each
    snapshot, so what is there is what is kept (and what a restore may use).
    A manifest that does not decode names no key (verification reports it).
    """
    ids: list[str] = []
    for snapshot_id in store.list_snapshot_ids():
        try:
            ids.append(store.get_manifest(snapshot_id).key_id)
        except ValueError:
            continue
    return key_usage(ids, keyring.ids, keyring.current_id)


def verify_latest(
    store: SnapshotStore,
    keyring: KeyRing,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    accept_uids: frozenset[str] | None = None,
) -> VerifyOutcome:
    """Verify the snapshot the latest-pointer names (blocking: run it in a worker thread).

    Never raises: whatever happens becomes the outcome the runner reports. A
    manifest that cannot be read, fails its MAC or belongs to another account
    uid (not in `accept_uids`; None: any), and a pointer whose MAC does not
    verify, are damage to that snapshot; a store that cannot be read (or holds
    no snapshot) checked nothing. The outcome also says which keys the
    store's snapshots need (`keys_in_use`), when the store can be listed.
    """
    try:
        pointer, _ = store.read_pointer()
    except Exception as error:
        return VerifyOutcome(None, error=f"cannot read the latest-pointer: {_brief(error)}")
    if pointer is None:
        return VerifyOutcome(None, error="the store holds no snapshot yet")
    try:
        keys: KeyUsage | None = keys_in_use(store, keyring)
    except Exception as error:
        log.warning("cannot tell which keys the snapshots need: %s", _brief(error))
        keys = None
    try:
        manifest, key = open_manifest(store, keyring, pointer.snapshot_id, accept_uids)
        distrust = pointer_distrust(pointer, manifest, key)
        if distrust is not None:
            raise VerificationError(f"the latest-pointer is not trusted: {distrust}")
        report = verify_snapshot(
            store, keyring, pointer.snapshot_id, concurrency=concurrency, accept_uids=accept_uids
        )
    except VerificationError as error:
        return VerifyOutcome(pointer.snapshot_id, error=str(error)[:300], keys=keys)
    except Exception as error:  # the store, not the snapshot: nothing was checked
        return VerifyOutcome(None, error=f"verification did not finish: {_brief(error)}", keys=keys)
    return VerifyOutcome(
        report.snapshot_id,
        chunks=report.chunks,
        corrupt=tuple(report.corrupt),
        missing=tuple(report.missing),
        keys=keys,
    )


def _brief(error: Exception) -> str:
    """An S3 error for status: botocore's text names the operation and code, never credentials."""
    return f"{type(error).__name__}: {error}"[:200]


def _store_and_keyring(settings: Any, client: Any) -> tuple[SnapshotStore, KeyRing]:
    """The account's store and keys from RunnerSettings; KeyRingError without a key file."""
    if settings.snapshot_encryption_key_file is None:
        raise KeyRingError("snapshot_bucket is set but snapshot_encryption_key_file is not")
    keyring = load_keyring(Path(settings.snapshot_encryption_key_file))
    store = account_store(settings, client if client is not None else s3_client(settings))
    return store, keyring


def build_verify_hook(settings: Any, *, client: Any = None) -> VerifyHook:
    """The runner's on-demand verify hook (wafleet.io/verify-request): the latest snapshot.

    It takes no lock with the snapshot hook on purpose: verifying reads the
    store and writes only `suspect/` markers, so a snapshot need not wait for
    a verification of a large session, nor a verification for a snapshot.
    A marker written just after a snapshot read the suspect list costs at most
    one more re-upload by the next snapshot. Built only when a bucket is
    configured; without one the runner's own placeholder answers the request.
    """
    store, keyring = _store_and_keyring(settings, client)
    uid = settings.account_uid
    # A runner started by hand (no uid) verifies whatever the pointer names, as a restore
    # by name only would restore it.
    accept = restorable_uids(uid, settings.snapshot_adopt_uid) if uid else None

    async def verify() -> VerifyOutcome:
        outcome = await asyncio.to_thread(
            partial(verify_latest, store, keyring, accept_uids=accept)
        )
        metrics.VERIFICATIONS.labels(metrics_result(outcome)).inc()
        if outcome.ok:
            log.info("snapshot %s verified: %d chunks", outcome.snapshot_id, outcome.chunks)
        else:
            log.warning(
                "verification of snapshot %s: %d corrupt, %d missing chunk(s)%s",
                outcome.snapshot_id,
                len(outcome.corrupt),
                len(outcome.missing),
                f" ({outcome.error})" if outcome.error else "",
            )
        return outcome

    return verify


async def _nothing(session_dir: Path, token: int) -> None:
    """Snapshots are off (no bucket): nothing to restore or save."""


def build_hooks(
    settings: Any,
    *,
    client: Any = None,
    quiesce: Quiesce | None = None,
    owner: str | None = None,
    on_restore: Callable[[RestoreResult | None], None] | None = None,
    on_snapshot: Callable[[SnapshotResult], None] | None = None,
    grace: timedelta = DEFAULT_GRACE,
    engine_version: str | None = None,
    restore_from: Callable[[], Awaitable[str | None]] | None = None,
    named_snapshots: Callable[[], Awaitable[Collection[str]]] | None = None,
) -> tuple[Hook, Hook]:
    """The runner's `(restore, snapshot)` hooks for `settings` (a RunnerSettings).

    No-ops when `snapshot_bucket` is unset. With a bucket, an encryption key
    file is required: snapshots are never stored unencrypted. The snapshot
    hook also applies retention and GC (in the same lock, so GC never runs
    during a snapshot); a GC failure is logged, not raised. `on_restore` gets
    the RestoreResult (its `warning` is for status and an event);
    `on_snapshot` the SnapshotResult (for status; metrics are recorded here).
    `engine_version` goes into manifests (default: the wafleet version).
    `restore_from` says, at each restore, which snapshot to restore (None: the
    latest); without it `settings.restore_from` is used every time (the runner
    passes `OneShotRestore.target`, so spec.restoreFrom is consumed once).
    `named_snapshots` are the snapshots the account's spec names now, read
    before each GC (the pod's own settings may be older than the spec: a pod
    stopping because restoreFrom was just set takes a final snapshot, and its
    GC must not collect the snapshot the new pod is about to restore); if it
    fails, that GC is skipped.
    """
    if settings.snapshot_bucket is None:
        return _nothing, _nothing
    store, keyring = _store_and_keyring(settings, client)
    who = owner or f"{settings.namespace}/{settings.account_name}"
    uid: str = settings.account_uid
    adopt_uid: str | None = settings.snapshot_adopt_uid
    version = engine_version if engine_version is not None else _wafleet_version()
    lock = asyncio.Lock()
    keep_within = (
        timedelta(hours=settings.snapshot_keep_within_hours)
        if settings.snapshot_keep_within_hours is not None
        else None
    )

    async def restore(session_dir: Path, token: int) -> None:
        async with lock:
            try:
                chosen = await restore_from() if restore_from is not None else settings.restore_from
                result = await restore_latest(
                    session_dir,
                    store,
                    keyring,
                    restore_from=chosen,
                    owner=who,
                    uid=uid,
                    adopt_uid=adopt_uid,
                )
            except Exception:
                metrics.RESTORES.labels("failed").inc()
                raise
        if result is None:
            metrics.RESTORES.labels("fresh").inc()
            log.info("no snapshot to restore: a fresh session")
        elif result.warning:
            metrics.RESTORES.labels("fallback").inc()
            log.warning("%s", result.warning)
        else:
            metrics.RESTORES.labels("ok").inc()
            log.info("restored snapshot %s", result.snapshot_id)
        if on_restore is not None:
            on_restore(result)

    async def snapshot(session_dir: Path, token: int) -> None:
        async with lock:
            try:
                result = await take_snapshot(
                    session_dir,
                    str(settings.engine),
                    token,
                    store,
                    keyring,
                    owner=who,
                    uid=uid,
                    adopt_uid=adopt_uid,
                    quiesce=quiesce,
                    engine_version=version,
                )
            except NothingToCapture as error:
                metrics.SNAPSHOTS.labels("skipped").inc()
                log.info("snapshot skipped: %s", error)
                return
            except Exception:
                metrics.SNAPSHOTS.labels("failed").inc()
                raise
            metrics.SNAPSHOTS.labels("ok").inc()
            metrics.SNAPSHOT_BYTES.inc(result.bytes_uploaded)
            metrics.SNAPSHOT_SECONDS.observe(result.seconds)
            log.info(
                "snapshot %s: %d files, %d bytes uploaded in %.2fs",
                result.id,
                result.files,
                result.bytes_uploaded,
                result.seconds,
            )
            if on_snapshot is not None:
                on_snapshot(result)
            try:
                named = await named_snapshots() if named_snapshots is not None else ()
                collected = await asyncio.to_thread(
                    collect_garbage,
                    store,
                    token=token,
                    keep_last=settings.snapshot_keep_last,
                    keep_within=keep_within,
                    grace=grace,
                    named=[*named, *([settings.restore_from] if settings.restore_from else [])],
                )
            except FencedOutError:
                raise
            except Exception as error:
                log.warning("snapshot garbage collection failed: %s", error)
            else:
                metrics.GC_DELETED_CHUNKS.inc(collected.deleted_chunks)

    return restore, snapshot
