"""Key rotation in an operator-managed pod, end to end at the snapshot layer.

The pod mounts the whole encryption-key Secret as a directory: the current KEK
in `key`, retired ones beside it as `key.1`, `key.2` … The runner's hooks are
rebuilt from RunnerSettings after each change of the Secret (a pod restart).
"""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

from session_runner.contract.settings import RunnerSettings
from session_runner.session.snapshot.crypto import key_id
from session_runner.session.snapshot.restore import RestoreResult
from session_runner.session.snapshot.snapshotter import (
    SnapshotResult,
    build_hooks,
    build_verify_hook,
)
from session_runner.session.snapshot.verify import verify_message
from tests.integration.snapshot.conftest import BUCKET, KEK1, KEK2, Bucket, write

UID = "22222222-2222-4222-8222-222222222222"
A, B = key_id(KEK1), key_id(KEK2)


def mount(secret: Path, current: bytes, *retired: bytes) -> Path:
    """The Secret volume: `key` and `key.N`, as the operator mounts it (files replaced, not kept)."""
    secret.mkdir(exist_ok=True)
    for old in secret.glob("key*"):
        old.unlink()
    (secret / "key").write_bytes(base64.b64encode(current))
    for n, kek in enumerate(retired, start=1):
        (secret / f"key.{n}").write_bytes(base64.b64encode(kek))
    return secret / "key"


def pod(tmp_path: Path, key_file: Path) -> RunnerSettings:
    return RunnerSettings(
        account_name="alice",
        account_uid=UID,
        phone_number="+15550001111",
        engine="local",  # type: ignore[arg-type]
        session_dir=tmp_path / "session",
        snapshot_bucket=BUCKET,
        snapshot_prefix="snaps",
        snapshot_encryption_key_file=key_file,
        snapshot_keep_last=1,
    )


async def test_rotate_restore_old_snapshot_then_retire_the_old_key(
    tmp_path: Path, bucket: Bucket
) -> None:
    secret = tmp_path / "secret"
    restored: list[RestoreResult | None] = []
    taken: list[SnapshotResult] = []

    def hooks(config: RunnerSettings):  # type: ignore[no-untyped-def]
        restore, snapshot = build_hooks(
            config,
            client=bucket.client,
            on_restore=restored.append,
            on_snapshot=taken.append,
            grace=timedelta(0),
        )
        return restore, snapshot, build_verify_hook(config, client=bucket.client)

    store = bucket.store()
    # 1. under KEK A
    config = pod(tmp_path, mount(secret, KEK1))
    restore, snapshot, verify = hooks(config)
    write(config.session_dir, "local-session.json", b'{"under": "A"}')
    await snapshot(config.session_dir, 1)
    under_a = taken[-1].id
    assert store.get_manifest(under_a).key_id == A
    outcome = await verify()
    assert outcome.ok
    assert (outcome.keys and outcome.keys.needed) == (A,)

    # 2. rotate: B current, A kept as key.1; the old snapshot restores
    config = pod(tmp_path, mount(secret, KEK2, KEK1))
    restore, snapshot, verify = hooks(config)
    await restore(tmp_path / "fresh-pod", 2)
    assert restored[-1] is not None
    assert restored[-1].snapshot_id == under_a
    assert (tmp_path / "fresh-pod" / "local-session.json").read_bytes() == b'{"under": "A"}'
    outcome = await verify()
    assert outcome.keys is not None
    assert (outcome.keys.needed, outcome.keys.removable) == ((A,), ())
    assert f"snapshots need key(s) {A}; new snapshots use {B} (current)" in verify_message(outcome)

    # 3. the next snapshot is under B; retention (keep_last=1) drops the one under A
    write(config.session_dir, "local-session.json", b'{"under": "B"}')
    await snapshot(config.session_dir, 2)
    under_b = taken[-1].id
    assert store.get_manifest(under_b).key_id == B
    assert store.list_snapshot_ids() == [under_b]
    assert sorted(k.rsplit("/", 1)[1] for k in bucket.keys(store.prefix + "keys/")) == sorted(
        [f"{A}.{UID}.json", f"{B}.{UID}.json"]
    )
    outcome = await verify()
    assert outcome.ok
    assert outcome.keys is not None
    assert (outcome.keys.needed, outcome.keys.removable) == ((B,), (A,))
    assert f"no longer needed: {A} (may be removed from the Secret)" in verify_message(outcome)

    # 4. A leaves the Secret: restores and snapshots go on under B alone
    config = pod(tmp_path, mount(secret, KEK2))
    restore, snapshot, verify = hooks(config)
    await restore(tmp_path / "after-retirement", 3)
    assert restored[-1] is not None
    assert restored[-1].snapshot_id == under_b
    assert restored[-1].warning is None
    assert (tmp_path / "after-retirement" / "local-session.json").read_bytes() == b'{"under": "B"}'
    await snapshot(config.session_dir, 3)
    assert taken[-1].chunks_new == 0  # same data key as before the retirement: nothing re-uploaded
    outcome = await verify()
    assert outcome.keys is not None
    assert (outcome.keys.needed, outcome.keys.removable, outcome.keys.missing) == ((B,), (), ())
