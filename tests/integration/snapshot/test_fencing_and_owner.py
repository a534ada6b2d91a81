"""The latest-pointer refuses lower fencing tokens and stale ETags; prefixes have one owner."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from session_runner.contract.layout import latest_key
from session_runner.session.lease.fencing import FencedOutError
from session_runner.session.snapshot.crypto import KeyRing
from session_runner.session.snapshot.snapshotter import take_snapshot
from session_runner.session.snapshot.store import ForeignPrefixError, SnapshotStore
from tests.integration.snapshot.conftest import Bucket, write


def local_session(root: Path, version: int) -> Path:
    write(root, "local-session.json", f'{{"v": {version}}}'.encode())
    return root


async def test_a_lower_token_cannot_move_the_pointer(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    session = local_session(tmp_path / "s", 1)
    newer = await take_snapshot(session, "local", 5, store, keyring)
    with pytest.raises(FencedOutError):
        await take_snapshot(session, "local", 4, store, keyring)
    with pytest.raises(FencedOutError):
        store.move_pointer("anything", 4)
    pointer, _ = store.read_pointer()
    assert pointer is not None
    assert (pointer.snapshot_id, pointer.fencing_token) == (newer.id, 5)
    # the same and higher tokens move it
    same = await take_snapshot(session, "local", 5, store, keyring)
    higher = await take_snapshot(session, "local", 6, store, keyring)
    assert same.id < higher.id
    pointer, _ = store.read_pointer()
    assert pointer is not None
    assert (pointer.snapshot_id, pointer.fencing_token) == (higher.id, 6)


def test_a_stale_etag_writer_gets_412(store: SnapshotStore, bucket: Bucket) -> None:
    store.move_pointer("s1", 1)
    _, etag = store.read_pointer()
    store.move_pointer("s2", 2)
    with pytest.raises(ClientError) as caught:
        bucket.client.put_object(
            Bucket=bucket.name, Key=latest_key(store.prefix), Body=b"{}", IfMatch=etag
        )
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    with pytest.raises(ClientError):
        bucket.client.put_object(
            Bucket=bucket.name, Key=latest_key(store.prefix), Body=b"{}", IfNoneMatch="*"
        )


def test_compare_and_swap_retries_once_then_is_fenced(store: SnapshotStore) -> None:
    """Another writer slips in between our read and our write: first retry, then give up."""
    store.move_pointer("s0", 1)

    class Racing(SnapshotStore):
        def __init__(self, base: SnapshotStore, races: int) -> None:
            super().__init__(base.client, base.bucket, base.prefix)
            self.races = races

        def read_pointer(self):  # type: ignore[no-untyped-def]
            seen = super().read_pointer()
            if self.races > 0:
                self.races -= 1
                store.move_pointer(f"rival-{self.races}", 1)  # same token: allowed, but moves ETag
            return seen

    Racing(store, races=1).move_pointer("ours", 1)
    pointer, _ = store.read_pointer()
    assert pointer is not None
    assert pointer.snapshot_id == "ours"

    with pytest.raises(FencedOutError, match="twice"):
        Racing(store, races=2).move_pointer("ours-again", 1)
    pointer, _ = store.read_pointer()
    assert pointer is not None
    assert pointer.snapshot_id == "rival-0"


async def test_another_accounts_prefix_is_refused(
    tmp_path: Path, bucket: Bucket, keyring: KeyRing
) -> None:
    session = local_session(tmp_path / "s", 1)
    mine = bucket.store(account="alice")
    await take_snapshot(session, "local", 1, mine, keyring, owner="default/alice")
    await take_snapshot(session, "local", 1, mine, keyring, owner="default/alice")  # still mine
    before = bucket.keys()
    with pytest.raises(ForeignPrefixError, match="belongs to 'default/alice'"):
        await take_snapshot(session, "local", 9, mine, keyring, owner="default/alice-recreated")
    assert bucket.keys() == before


def test_a_prefix_with_foreign_objects_and_no_owner_is_refused(bucket: Bucket) -> None:
    store = bucket.store(account="bob")
    bucket.client.put_object(Bucket=bucket.name, Key=store.prefix + "profile.zip", Body=b"PK")
    with pytest.raises(ForeignPrefixError, match=r"no owner\.json"):
        store.claim("default/bob")
    bucket.store(account="carol").claim("default/carol")  # an empty prefix is claimed


async def test_a_runner_fenced_during_upload_writes_no_manifest(
    tmp_path: Path, store: SnapshotStore, keyring: KeyRing
) -> None:
    session = local_session(tmp_path / "s", 1)
    await take_snapshot(session, "local", 1, store, keyring)
    local_session(session, 2)

    class TakenOver(SnapshotStore):
        def put_chunk(self, chunk_id: str, blob: bytes | bytearray) -> None:
            super().put_chunk(chunk_id, blob)
            store.move_pointer("new-holders-snapshot", 2)  # the new holder commits meanwhile

    stale = TakenOver(store.client, store.bucket, store.prefix)
    with pytest.raises(FencedOutError):
        await take_snapshot(session, "local", 1, stale, keyring)
    assert len(store.list_snapshot_ids()) == 1
