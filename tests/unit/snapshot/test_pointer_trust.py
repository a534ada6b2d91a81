"""Table test: when a restore trusts the latest-pointer's choice of snapshot (pointer_distrust)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from session_runner.session.snapshot.crypto import DataKey
from session_runner.session.snapshot.manifest import LatestPointer, Manifest, Totals
from session_runner.session.snapshot.restore import pointer_distrust

KEK = bytes(range(32))
UID = "uid-a"
KEY = DataKey.generate(KEK, UID)
OTHER_KEY = DataKey.generate(KEK, UID)
WHEN = datetime(2026, 12, 5, tzinfo=UTC)


def manifest(fmt: int) -> Manifest:
    return Manifest(
        format=fmt,  # type: ignore[arg-type]
        snapshot_id="s2",
        engine="local",
        fencing_token=3,
        created_at=WHEN,
        key_id=KEY.key_id,
        wrapped_data_key=KEY.wrapped,
        chunk_size=1,
        files=[],
        totals=Totals(),
        account_uid=UID if fmt >= 4 else "",
    )


def signed(key: DataKey, **changes: object) -> LatestPointer:
    pointer = LatestPointer(
        snapshot_id="s2", fencing_token=3, written_at=WHEN, key_id=key.key_id, account_uid=key.uid
    )
    pointer = pointer.model_copy(update={"mac": key.pointer_mac(pointer.body_for_mac())})
    return pointer.model_copy(update=changes)


UNSIGNED = LatestPointer(snapshot_id="s2", fencing_token=3, written_at=WHEN)


@pytest.mark.parametrize(
    ("case", "pointer", "fmt", "distrust"),
    [
        ("signed by the snapshot's key", signed(KEY), 4, None),
        ("no MAC, pre-format-4 snapshot (the upgrade path)", UNSIGNED, 3, None),
        ("no MAC, format-4 snapshot", UNSIGNED, 4, "carries no MAC"),
        ("signed by another data key", signed(OTHER_KEY), 4, "MAC does not verify"),
        ("token raised after signing", signed(KEY, fencing_token=9), 4, "MAC does not verify"),
        ("time changed after signing", signed(KEY, written_at=datetime.now(UTC)), 4, "MAC"),
        ("another uid claimed", signed(KEY, account_uid="uid-b"), 4, "account uid"),
        ("another key id claimed", signed(KEY, key_id="f" * 16), 4, "key id"),
    ],
)
def test_pointer_distrust(
    case: str, pointer: LatestPointer, fmt: int, distrust: str | None
) -> None:
    reason = pointer_distrust(pointer, manifest(fmt), KEY)
    if distrust is None:
        assert reason is None, case
    else:
        assert reason is not None, case
        assert distrust in reason, case
