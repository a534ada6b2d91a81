"""The store is bound to the account's uid: a recreated account is refused, adoption is explicit,
another account's snapshot or a forged latest-pointer is not trusted, and GC stops when fenced.

All against the moto server; the runner's hooks are built from RunnerSettings as in a pod.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest

from session_runner.contract.layout import latest_key, owner_key
from session_runner.contract.settings import RunnerSettings
from session_runner.session.lease.fencing import FencedOutError
from session_runner.session.snapshot.crypto import KeyRing
from session_runner.session.snapshot.gc import collect_garbage
from session_runner.session.snapshot.manifest import LatestPointer, OwnerDoc, utcnow
from session_runner.session.snapshot.restore import RestoreResult
from session_runner.session.snapshot.snapshotter import build_hooks, restore_latest, take_snapshot
from session_runner.session.snapshot.store import ChunkObject, OwnershipRefused, SnapshotStore
from tests.integration.snapshot.conftest import BUCKET, KEK1, Bucket, write

OLD = "11111111-1111-4111-8111-111111111111"
NEW = "22222222-2222-4222-8222-222222222222"
BOB = "33333333-3333-4333-8333-333333333333"
LATER = timedelta(days=1)


def pod_settings(
    tmp_path: Path, uid: str, adopt: str | None = None, **more: object
) -> RunnerSettings:
    """What the operator renders for account default/alice (metadata.uid `uid`)."""
    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)
    (keys / "key").write_bytes(base64.b64encode(KEK1))
    values: dict[str, object] = {
        "account_name": "alice",
        "account_uid": uid,
        "snapshot_adopt_uid": adopt,
        "phone_number": "+15550001111",
        "engine": "local",
        "session_dir": tmp_path / f"session-{uid[:4]}",
        "snapshot_bucket": BUCKET,
        "snapshot_prefix": "snaps",
        "snapshot_encryption_key_file": keys / "key",
        **more,
    }
    return RunnerSettings(**values)  # type: ignore[arg-type]


def owner_doc(bucket: Bucket, store: SnapshotStore) -> OwnerDoc:
    body = bucket.client.get_object(Bucket=bucket.name, Key=owner_key(store.prefix))["Body"]
    return OwnerDoc.model_validate_json(body.read())


def session_bytes(session: Path) -> bytes:
    return (session / "local-session.json").read_bytes()


async def old_account_snapshots(tmp_path: Path, bucket: Bucket) -> RunnerSettings:
    """Account default/alice, uid OLD, logs in and snapshots; then it is deleted with Retain."""
    config = pod_settings(tmp_path, OLD)
    _restore, snapshot = build_hooks(config, client=bucket.client)
    write(config.session_dir, "local-session.json", b'{"who": "the old account"}')
    await snapshot(config.session_dir, 1)
    return config


async def test_a_recreated_account_never_restores_its_predecessors_session(
    tmp_path: Path, bucket: Bucket
) -> None:
    await old_account_snapshots(tmp_path, bucket)
    store = bucket.store()
    before = sorted(bucket.keys())

    config = pod_settings(tmp_path, NEW)  # same namespace/name, a new metadata.uid
    restore, snapshot = build_hooks(config, client=bucket.client)
    with pytest.raises(OwnershipRefused) as refused:
        await restore(config.session_dir, 1)
    assert str(refused.value) == (
        f"s3://{BUCKET}/{store.prefix} belongs to account uid {OLD}; this account is uid {NEW}. "
        f"To take over a retained backup set spec.snapshot.adoptFromUid: {OLD}"
    )
    assert not config.session_dir.exists()  # nothing restored
    write(config.session_dir, "local-session.json", b'{"who": "the new account"}')
    with pytest.raises(OwnershipRefused):
        await snapshot(config.session_dir, 2)
    assert sorted(bucket.keys()) == before  # nothing written either
    assert owner_doc(bucket, store).uid == OLD


async def test_adopting_a_retained_store_restores_it_and_rebinds_it(
    tmp_path: Path, bucket: Bucket
) -> None:
    old_config = await old_account_snapshots(tmp_path, bucket)
    store = bucket.store()
    old_manifest = store.get_manifest(store.list_snapshot_ids()[0])
    assert (old_manifest.format, old_manifest.account_uid) == (4, OLD)

    config = pod_settings(tmp_path, NEW, adopt=OLD)  # spec.snapshot.adoptFromUid: OLD
    restored: list[RestoreResult | None] = []
    restore, snapshot = build_hooks(config, client=bucket.client, on_restore=restored.append)
    await restore(config.session_dir, 2)
    assert restored[-1] is not None
    assert restored[-1].snapshot_id == old_manifest.snapshot_id
    assert session_bytes(config.session_dir) == b'{"who": "the old account"}'
    assert owner_doc(bucket, store).uid == NEW  # rebound

    # the first snapshot after adoption is under a data key of the new uid: everything goes up once
    write(config.session_dir, "local-session.json", b'{"who": "adopted"}')
    snaps = []
    restore, snapshot = build_hooks(config, client=bucket.client, on_snapshot=snaps.append)
    await snapshot(config.session_dir, 2)
    new_manifest = store.get_manifest(snaps[-1].id)
    assert (new_manifest.format, new_manifest.account_uid) == (4, NEW)
    assert snaps[-1].chunks_reused == 0
    old_chunks = {c.id for f in old_manifest.files for c in f.chunks}
    assert not old_chunks & {c.id for f in new_manifest.files for c in f.chunks}

    # and now the old uid is the stranger
    old_restore, _ = build_hooks(old_config, client=bucket.client)
    with pytest.raises(OwnershipRefused, match=f"belongs to account uid {NEW}"):
        await old_restore(tmp_path / "old-again", 3)


def copy_prefix(bucket: Bucket, source: SnapshotStore, target: SnapshotStore, under: str) -> None:
    for key in bucket.keys(source.prefix + under):
        bucket.client.copy_object(
            Bucket=bucket.name,
            Key=target.prefix + key[len(source.prefix) :],
            CopySource={"Bucket": bucket.name, "Key": key},
        )


async def test_another_accounts_snapshot_copied_into_our_prefix_does_not_restore(
    tmp_path: Path, bucket: Bucket
) -> None:
    """Same KEK, another account: its manifest, key doc, chunks and pointer copied over ours."""
    alice, bob = bucket.store(account="alice"), bucket.store(account="bob")
    ring = KeyRing(KEK1)
    write(tmp_path / "a", "local-session.json", b'{"who": "alice"}')
    write(tmp_path / "b", "local-session.json", b'{"who": "bob"}')
    ours = await take_snapshot(
        tmp_path / "a", "local", 1, alice, ring, owner="default/alice", uid=NEW
    )
    await take_snapshot(tmp_path / "b", "local", 1, bob, ring, owner="default/bob", uid=BOB)
    for under in ("manifests/", "keys/", "chunks/", "latest.json"):
        copy_prefix(bucket, bob, alice, under)
    pointer, _ = alice.read_pointer()
    assert pointer is not None
    assert pointer.snapshot_id != ours.id

    result = await restore_latest(
        tmp_path / "restored", alice, ring, owner="default/alice", uid=NEW
    )
    assert result is not None
    assert result.snapshot_id == ours.id
    assert session_bytes(tmp_path / "restored") == b'{"who": "alice"}'
    assert result.warning is not None
    assert f"written by account uid {BOB}, not this account" in result.warning


async def test_a_forged_latest_pointer_is_not_trusted(tmp_path: Path, bucket: Bucket) -> None:
    store, ring = bucket.store(), KeyRing(KEK1)
    session = tmp_path / "s"
    ids = []
    for who in ("first", "second"):
        write(session, "local-session.json", f'{{"v": "{who}"}}'.encode())
        snap = await take_snapshot(session, "local", 3, store, ring, owner="default/alice", uid=NEW)
        ids.append(snap.id)
    genuine, _ = store.read_pointer()
    assert genuine is not None
    assert genuine.mac
    # a bucket writer points latest.json at the older snapshot, keeping the genuine MAC
    forged = genuine.model_copy(update={"snapshot_id": ids[0]})
    bucket.client.put_object(Bucket=BUCKET, Key=latest_key(store.prefix), Body=forged.to_json())

    result = await restore_latest(tmp_path / "r", store, ring, owner="default/alice", uid=NEW)
    assert result is not None
    assert result.snapshot_id == ids[1]  # the newest verifiable one, not the forged choice
    assert session_bytes(tmp_path / "r") == b'{"v": "second"}'
    assert result.warning is not None
    assert f"the latest-pointer naming {ids[0]} is not trusted" in result.warning

    # without a MAC at all, naming a format-4 snapshot: not trusted either
    bare = LatestPointer(snapshot_id=ids[0], fencing_token=3, written_at=utcnow())
    bucket.client.put_object(Bucket=BUCKET, Key=latest_key(store.prefix), Body=bare.to_json())
    result = await restore_latest(tmp_path / "r2", store, ring, owner="default/alice", uid=NEW)
    assert result is not None
    assert result.snapshot_id == ids[1]
    assert result.warning is not None
    assert "carries no MAC" in result.warning


class MovesThePointer(SnapshotStore):
    """The real store, except that a new lease holder (token 9) commits when `on` is called."""

    def __init__(self, base: SnapshotStore, on: str) -> None:
        super().__init__(base.client, base.bucket, base.prefix)
        self.on = on
        self.base = base

    def _takeover(self, name: str) -> None:
        if name == self.on:
            self.base.move_pointer("new-holders-snapshot", 9)

    def list_chunks(self) -> dict[str, ChunkObject]:
        self._takeover("list_chunks")
        return super().list_chunks()

    def delete_manifests(self, snapshot_ids: object) -> None:  # type: ignore[override]
        super().delete_manifests(snapshot_ids)  # type: ignore[arg-type]
        self._takeover("delete_manifests")


@pytest.mark.parametrize("moved_after", ["list_chunks", "delete_manifests"])
async def test_gc_stops_when_the_pointer_moves_mid_run(
    tmp_path: Path, bucket: Bucket, moved_after: str
) -> None:
    store, ring = bucket.store(), KeyRing(KEK1)
    session = tmp_path / "s"
    for version in range(3):
        write(session, "local-session.json", f'{{"v": {version}}}'.encode() * 100)
        await take_snapshot(session, "local", 1, store, ring)
    manifests, chunks = store.list_snapshot_ids(), set(store.list_chunks())

    racing = MovesThePointer(store, on=moved_after)
    with pytest.raises(FencedOutError, match="9 > ours 1"):
        collect_garbage(racing, token=1, keep_last=1, now=utcnow() + LATER)
    assert set(store.list_chunks()) == chunks  # no chunk deleted
    if moved_after == "list_chunks":  # moved while planning: not even a manifest went
        assert store.list_snapshot_ids() == manifests
