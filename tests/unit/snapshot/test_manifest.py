"""Snapshot ids sort by time; documents round-trip as JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from session_runner.contract.layout import (
    account_prefix,
    chunk_key,
    latest_key,
    manifest_key,
)
from session_runner.session.snapshot.crypto import IdScheme
from session_runner.session.snapshot.manifest import (
    ChunkRef,
    FileRecord,
    LatestPointer,
    Manifest,
    Totals,
    decode_manifest,
    encode_manifest,
    new_snapshot_id,
)


def test_snapshot_ids_sort_by_creation_time_and_are_unique() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [new_snapshot_id(start + timedelta(microseconds=i * 999)) for i in range(50)]
    assert ids == sorted(ids)
    assert len({new_snapshot_id(start) for _ in range(50)}) == 50


def test_pointer_round_trips() -> None:
    pointer = LatestPointer(snapshot_id="x", fencing_token=3, written_at=datetime.now(UTC))
    assert LatestPointer.model_validate_json(pointer.to_json()) == pointer


def test_keys_live_under_the_account_prefix() -> None:
    prefix = account_prefix("snaps", "ns", "acct")
    assert prefix == "snaps/ns/acct/"
    for key in (latest_key(prefix), chunk_key(prefix, "ab"), manifest_key(prefix, "s1")):
        assert key.startswith(prefix)


def _manifest(files: int) -> Manifest:
    chunk = ChunkRef(id="ab" * 32, size=1 << 20, stored_size=700_000)
    return Manifest(
        snapshot_id=new_snapshot_id(),
        engine="browser",
        fencing_token=1,
        created_at=datetime.now(UTC),
        key_id="0" * 16,
        wrapped_data_key="w",
        chunk_size=1 << 20,
        files=[
            FileRecord(path=f"f{i}", mode=0o600, size=1 << 20, mtime_ns=0, chunks=[chunk])
            for i in range(files)
        ],
        totals=Totals(),
    )


def test_manifests_are_stored_compressed_and_read_back() -> None:
    manifest = _manifest(200)
    stored = encode_manifest(manifest)
    assert len(stored) < len(manifest.to_json()) / 4
    assert decode_manifest(stored) == manifest
    assert manifest.format == 4


def test_a_format_1_manifest_still_reads() -> None:
    plain = _manifest(1).model_copy(update={"format": 1}).to_json()
    assert decode_manifest(plain).format == 1


@pytest.mark.parametrize(
    ("manifest_format", "scheme"),
    [(1, IdScheme.HMAC_SHA256), (2, IdScheme.HMAC_SHA256), (3, IdScheme.BLAKE3)],
)
def test_the_format_says_how_chunk_ids_were_made(manifest_format: int, scheme: IdScheme) -> None:
    assert _manifest(1).model_copy(update={"format": manifest_format}).id_scheme is scheme


def test_a_damaged_manifest_is_a_value_error() -> None:
    stored = encode_manifest(_manifest(3))
    with pytest.raises(ValueError, match="does not decompress"):
        decode_manifest(stored[:-7])
    with pytest.raises(ValueError, match="validation error"):
        decode_manifest(b"not a manifest")


def test_before_format_4_the_mac_body_is_what_its_writer_authenticated() -> None:
    """Formats 1-3 had no account_uid: their MAC body must not gain one (or they stop verifying)."""
    old = _manifest(2).model_copy(update={"format": 3})
    assert b"account_uid" not in old.body_for_mac()
    new = _manifest(2).model_copy(update={"account_uid": "uid-a"})
    assert b'"account_uid":"uid-a"' in new.body_for_mac()
    assert new.model_copy(update={"account_uid": "uid-b"}).body_for_mac() != new.body_for_mac()
