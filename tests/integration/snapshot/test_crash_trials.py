"""Crash consistency: SIGKILL a snapshotting, collecting or restoring process at random points.

After every kill: every manifest in the store references only chunks that
exist, and a restore yields a complete, verified snapshot with no fallback
(the pointer's snapshot, old or new). A restore killed midway leaves the
target either absent or a complete snapshot, never a mixture.

The default run is CI's share; `WAFLEET_CRASH_TRIALS=200` runs the full proof.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from session_runner.session.snapshot.crypto import KeyRing
from session_runner.session.snapshot.restore import restore_with_fallback
from session_runner.session.snapshot.store import SnapshotStore
from tests.harness.moto_server import AwsEndpoint
from tests.integration.snapshot.conftest import BUCKET, KEK1, Bucket, tree

REPO = Path(__file__).resolve().parents[3]
TRIALS = int(os.environ.get("WAFLEET_CRASH_TRIALS", "8"))


def run_and_kill(args: list[str], delay: float) -> str:
    """Start a worker, SIGKILL it after `delay`; return the phase it was in."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.snapshot.crash_worker", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        _, err = process.communicate(timeout=30)
        raise AssertionError(f"worker did not start: {line!r} {err[-2000:]}")
    time.sleep(delay)
    if process.poll() is not None:
        _, err = process.communicate(timeout=30)
        raise AssertionError(f"worker died by itself: {err[-3000:]}")
    process.kill()  # SIGKILL: no cleanup, no finally
    out, _ = process.communicate(timeout=30)
    phases = out.split()
    return phases[-1] if phases else "ready"


def assert_consistent(store: SnapshotStore, keyring: KeyRing, scratch: Path) -> str | None:
    chunks = set(store.list_chunks())
    for sid in store.list_snapshot_ids():
        manifest = store.get_manifest(sid)
        missing = {c.id for f in manifest.files for c in f.chunks} - chunks
        assert not missing, f"manifest {sid} references {len(missing)} missing chunks"
    result = restore_with_fallback(store, keyring, scratch)
    if result is None:
        return None
    assert result.warning is None, result.warning
    pointer, _ = store.read_pointer()
    assert pointer is not None
    assert result.snapshot_id == pointer.snapshot_id
    return result.snapshot_id


def test_sigkill_at_random_points_never_breaks_a_snapshot(
    aws: AwsEndpoint, bucket: Bucket, tmp_path: Path
) -> None:
    prefix = "crash/t/a/"
    store = SnapshotStore(bucket.client, BUCKET, prefix)
    keyring = KeyRing(KEK1)
    rnd = random.Random(int(os.environ.get("WAFLEET_CRASH_SEED", "6")))
    session = tmp_path / "session"
    target = tmp_path / "restore-target"
    restored: set[str] = set()
    killed_in: Counter[str] = Counter()
    for trial in range(TRIALS):
        if trial % 4 == 3 and store.list_snapshot_ids():
            before = tree(target) if target.exists() else None
            phase = run_and_kill(
                ["restore", aws.endpoint_url, BUCKET, prefix, str(target), str(trial)],
                rnd.uniform(0.0, 0.4),
            )
            scratch = tmp_path / f"check-{trial}"
            sid = assert_consistent(store, keyring, scratch)
            if target.exists():  # the killed restore left the old whole dir or the new one
                after = tree(target)
                assert after in (before, tree(scratch)), f"trial {trial}: torn restore"
        else:
            phase = run_and_kill(
                ["snapshot", aws.endpoint_url, BUCKET, prefix, str(session), str(trial)],
                rnd.uniform(0.0, 1.2),
            )
            sid = assert_consistent(store, keyring, tmp_path / f"check-{trial}")
        if sid:
            restored.add(sid)
        killed_in[phase] += 1
    print(f"{TRIALS} SIGKILL trials, killed in: {dict(sorted(killed_in.items()))}")
    assert restored, "no trial got as far as a snapshot"
