"""Snapshots written before chunk ids became keyed BLAKE3 (manifest format 2) stay restorable.

`tests/fixtures/snapshot_format2/objects` is a whole account prefix written by
the format-2 code (commit 6c936fd): owner, key doc, manifest, pointer and nine
chunks (1 KiB chunks, 4 KiB for immutable files) of the four files below,
under KEK1. The test puts those objects in the moto server as they were and
restores them with today's code.
"""

from __future__ import annotations

from pathlib import Path

from session_runner.contract.layout import owner_key
from session_runner.session.snapshot.crypto import IdScheme, KeyRing
from session_runner.session.snapshot.manifest import OwnerDoc
from session_runner.session.snapshot.restore import verify_snapshot
from session_runner.session.snapshot.snapshotter import restore_latest, take_snapshot
from session_runner.session.snapshot.store import SnapshotStore
from tests.harness.moto_server import flip_a_byte_of_a_chunk
from tests.integration.snapshot.conftest import IDB, KEK1, Bucket, tree

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "snapshot_format2" / "objects"
SNAPSHOT_ID = "20261203T090531.345692Z-dada14ee"
UID = "0f4c2b9e-6a1d-4e4b-9a53-2c1f8e7d6b5a"
FILES = {  # what the fixture's snapshot holds (tests/fixtures/snapshot_format2)
    f"{IDB}/000005.ldb": bytes(i * 7 % 251 for i in range(10_000)),
    f"{IDB}/000009.log": b"log record\n" * 300,
    f"{IDB}/CURRENT": b"MANIFEST-000001\n",
    "Local State": b'{"profile": {}}',
}


def upload_fixture(bucket: Bucket, store: SnapshotStore) -> None:
    for path in FIXTURE.rglob("*"):
        if path.is_file():
            key = store.prefix + path.relative_to(FIXTURE).as_posix()
            bucket.client.put_object(Bucket=bucket.name, Key=key, Body=path.read_bytes())


async def test_a_format_2_snapshot_restores_and_verifies(tmp_path: Path, bucket: Bucket) -> None:
    store = bucket.store()
    upload_fixture(bucket, store)
    manifest = store.get_manifest(SNAPSHOT_ID)
    assert manifest.format == 2
    assert manifest.id_scheme is IdScheme.HMAC_SHA256

    restored = await restore_latest(tmp_path / "session", store, KeyRing(KEK1))
    assert restored is not None
    assert restored.snapshot_id == SNAPSHOT_ID
    assert restored.warning is None
    assert {path: data for path, (data, _mode) in tree(tmp_path / "session").items()} == FILES
    assert verify_snapshot(store, KeyRing(KEK1), SNAPSHOT_ID).ok


async def test_a_damaged_format_2_chunk_is_caught(bucket: Bucket) -> None:
    store = bucket.store()
    upload_fixture(bucket, store)
    flipped = flip_a_byte_of_a_chunk(bucket.client, bucket.name, store.prefix)
    report = verify_snapshot(store, KeyRing(KEK1), SNAPSHOT_ID)
    assert report.corrupt == [flipped.rsplit("/", 1)[1]]


async def test_the_first_format_4_snapshot_over_format_2_data_binds_the_store(
    tmp_path: Path, bucket: Bucket
) -> None:
    """The upgrade path: a legacy owner.json (no uid) is bound to the account's uid on first
    claim; the old snapshot restores; the new ids share nothing with the old (a fresh, uid-bound
    data key), so every chunk goes up once."""
    store = bucket.store()
    upload_fixture(bucket, store)
    session = tmp_path / "session"
    restored = await restore_latest(session, store, KeyRing(KEK1), owner="default/alice", uid=UID)
    assert restored is not None
    assert restored.snapshot_id == SNAPSHOT_ID
    assert restored.warning is None  # a pointer without a MAC is trusted for a format-2 snapshot
    owner = OwnerDoc.model_validate_json(
        bucket.client.get_object(Bucket=bucket.name, Key=owner_key(store.prefix))["Body"].read()
    )
    assert (owner.owner, owner.uid) == ("default/alice", UID)
    (session / IDB / "000009.log").write_bytes(FILES[f"{IDB}/000009.log"] + b"one more\n")

    result = await take_snapshot(
        session, "browser", 4, store, KeyRing(KEK1), owner="default/alice", uid=UID
    )
    assert result.chunks_reused == 0
    manifest = store.get_manifest(result.id)
    assert (manifest.format, manifest.account_uid) == (4, UID)

    again = await restore_latest(
        tmp_path / "again", store, KeyRing(KEK1), owner="default/alice", uid=UID
    )
    assert again is not None
    assert again.snapshot_id == result.id
    assert again.warning is None
    assert tree(tmp_path / "again")[f"{IDB}/000009.log"][0].endswith(b"one more\n")
