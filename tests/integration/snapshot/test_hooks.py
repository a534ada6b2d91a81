"""The runner's hooks, built from RunnerSettings: off without a bucket, a full cycle with one."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from session_runner.contract.settings import RunnerSettings
from session_runner.session.snapshot.crypto import KeyRingError, key_id
from session_runner.session.snapshot.manifest import decode_manifest
from session_runner.session.snapshot.restore import RestoreResult
from session_runner.session.snapshot.snapshotter import SnapshotResult, build_hooks, load_keyring
from tests.integration.snapshot.conftest import BUCKET, KEK1, KEK2, Bucket, write


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def settings(tmp_path: Path, **overrides: object) -> RunnerSettings:
    values: dict[str, object] = {
        "account_name": "alice",
        "phone_number": "+15550001111",
        "engine": "local",
        "session_dir": tmp_path / "session",
        **overrides,
    }
    return RunnerSettings(**values)  # type: ignore[arg-type]


async def test_hooks_do_nothing_without_a_bucket(tmp_path: Path) -> None:
    restore, snapshot = build_hooks(settings(tmp_path))
    write(tmp_path / "session", "local-session.json", b"{}")
    await restore(tmp_path / "session", 1)
    await snapshot(tmp_path / "session", 1)
    assert names(tmp_path) == ["session"]


def test_a_bucket_without_a_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="encryption_key_file"):
        build_hooks(settings(tmp_path, snapshot_bucket=BUCKET))


async def test_hooks_snapshot_restore_and_collect(tmp_path: Path, bucket: Bucket) -> None:
    key_file = tmp_path / "keys" / "key"
    key_file.parent.mkdir()
    key_file.write_bytes(base64.b64encode(KEK1))
    config = settings(
        tmp_path,
        snapshot_bucket=BUCKET,
        snapshot_prefix="snaps",
        snapshot_encryption_key_file=key_file,
        snapshot_keep_last=1,
    )
    restores: list[RestoreResult | None] = []
    snaps: list[SnapshotResult] = []
    restore, snapshot = build_hooks(
        config, client=bucket.client, on_restore=restores.append, on_snapshot=snaps.append
    )
    session = config.session_dir
    ok_before = sample("wafleet_snapshots_total", result="ok")
    await restore(session, 1)
    assert restores == [None]  # a fresh account

    write(session, "local-session.json", b'{"logged_in": true}')
    await snapshot(session, 1)
    await snapshot(session, 1)
    assert [s.bytes_uploaded == 0 for s in snaps] == [False, True]
    assert bucket.keys("snaps/default/alice/owner.json")
    assert len(bucket.keys("snaps/default/alice/manifests/")) == 1  # keep_last=1 applied
    assert sample("wafleet_snapshots_total", result="ok") == ok_before + 2
    manifest_key = bucket.keys("snaps/default/alice/manifests/")[0]
    stored = bucket.client.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read()
    manifest = decode_manifest(stored)
    assert manifest.engine == "local"
    assert manifest.engine_version.startswith("wafleet")

    target = tmp_path / "elsewhere" / "session"
    await restore(target, 2)
    assert restores[-1] is not None
    assert restores[-1].snapshot_id == snaps[-1].id
    assert (target / "local-session.json").read_bytes() == b'{"logged_in": true}'


def test_retired_keys_sit_beside_the_current_one(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(KEK2)
    (tmp_path / "key.1").write_bytes(base64.b64encode(KEK1))
    (tmp_path / "..data").mkdir()  # what a Secret volume also holds: ignored
    ring = load_keyring(tmp_path / "key")
    assert ring.current_id == key_id(KEK2)
    assert ring.ids == {key_id(KEK1), key_id(KEK2)}
