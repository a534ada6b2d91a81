"""Snapshot ids sort by time; documents round-trip as JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from session_runner.snapshot.layout import account_prefix, chunk_key, latest_key, manifest_key
from session_runner.snapshot.manifest import LatestPointer, new_snapshot_id


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
