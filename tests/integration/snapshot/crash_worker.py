"""A process the crash trials SIGKILL at random points: snapshots + GC, or restores, in a loop.

Run as `python -m tests.integration.snapshot.crash_worker MODE ENDPOINT BUCKET PREFIX DIR SEED`.
MODE `snapshot` mutates a browser-like session (log appends, new tables,
compaction) and snapshots and collects garbage (no grace, so chunks really
go) over and over; MODE `restore` restores the latest snapshot into DIR over
and over. It prints `ready` once its imports are done, so the kill lands in
the work, not in the interpreter's start-up.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import boto3

from session_runner.session.snapshot.crypto import DataKey, KeyRing
from session_runner.session.snapshot.gc import collect_garbage
from session_runner.session.snapshot.manifest import LatestPointer, Manifest
from session_runner.session.snapshot.snapshotter import (
    NothingToCapture,
    restore_latest,
    take_snapshot,
)
from session_runner.session.snapshot.store import SnapshotStore
from tests.harness.devserver import DEV_ACCESS_KEY_ID, DEV_REGION, DEV_SECRET_ACCESS_KEY

IDB = "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb"
KEK = bytes(range(32))


def mutate(session: Path, rnd: random.Random, step: int) -> None:
    tables = session / IDB
    tables.mkdir(parents=True, exist_ok=True)
    with (tables / "000001.log").open("ab") as log:
        log.write(rnd.randbytes(65536))
    if step % 2 == 0:
        (tables / f"{100000 + rnd.randrange(1 << 20):06d}.ldb").write_bytes(
            rnd.randbytes(rnd.randrange(200_000, 1_500_000))
        )
    ldbs = sorted(tables.glob("*.ldb"))
    if len(ldbs) > 4:
        ldbs[0].unlink()  # compaction: an old table goes


class Narrating(SnapshotStore):
    """Prints the phase before each kind of write, so the trials know where the kill landed."""

    def _say(self, phase: str) -> None:
        print(phase, flush=True)

    def put_chunk(self, chunk_id: str, blob: bytes | bytearray) -> None:
        self._say("upload")
        super().put_chunk(chunk_id, blob)

    def replace_chunk(self, chunk_id: str, blob: bytes | bytearray) -> None:
        self._say("upload")
        super().replace_chunk(chunk_id, blob)

    def put_manifest(self, manifest: Manifest) -> None:
        self._say("manifest")
        super().put_manifest(manifest)

    def move_pointer(
        self, snapshot_id: str, token: int, key: DataKey | None = None
    ) -> LatestPointer:
        self._say("pointer")
        return super().move_pointer(snapshot_id, token, key)

    def delete_manifests(self, snapshot_ids: Iterable[str]) -> None:
        self._say("gc-manifests")
        super().delete_manifests(snapshot_ids)

    def delete_chunks(self, chunk_ids: Iterable[str]) -> None:
        self._say("gc-chunks")
        super().delete_chunks(chunk_ids)

    def get_chunk(self, chunk_id: str) -> bytes:
        self._say("restore-download")
        return super().get_chunk(chunk_id)


async def main(argv: list[str]) -> None:
    mode, endpoint, bucket, prefix, directory, seed = argv
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=DEV_REGION,
        aws_access_key_id=DEV_ACCESS_KEY_ID,
        aws_secret_access_key=DEV_SECRET_ACCESS_KEY,
    )
    store = Narrating(client, bucket, prefix)
    keyring = KeyRing(KEK)
    rnd = random.Random(int(seed))
    print("ready", flush=True)
    step = 0
    while True:
        step += 1
        if mode == "snapshot":
            print("capture", flush=True)
            mutate(Path(directory), rnd, step)
            try:
                await take_snapshot(Path(directory), "browser", 1, store, keyring, owner="t/a")
            except NothingToCapture:
                continue
            await asyncio.to_thread(
                collect_garbage, store, token=1, keep_last=2, grace=timedelta(0)
            )
        else:
            print("restore-start", flush=True)
            await restore_latest(Path(directory), store, keyring)
            print("restore-swapped", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
