"""Pure: what an on-demand verification found, and how the runner reports it.

`wafleet verify ACCOUNT` sets the wafleet.io/verify-request annotation; the
runner holding the lease verifies the latest snapshot (`verify_latest` in
snapshotter.py, every chunk downloaded and checked, nothing written but the
`suspect/` markers) and answers under `status.runner.lastVerify`. This module
holds no I/O and imports nothing heavy, so the runner can use it without
loading the snapshot layer (zstd, cryptography, boto3).

`snapshot_id` is set only when a snapshot was actually checked: "there is no
snapshot" or "the store could not be read" is not damage, and the operator
must not report a backup as corrupt for an S3 outage.

`keys` says which key-encryption keys the store's snapshots still need
(`keys.key_usage`): the message ends with it, so `wafleet verify` tells a
user in the middle of a key rotation when a retired key may leave the Secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from session_runner.session.snapshot.keys import KeyUsage, key_usage_line

#: Chunk ids named in a message at most; the counts say the rest. Ids are keyed
#: hashes (they reveal nothing of the content), but status is no place for lists.
MAX_IDS_IN_MESSAGE = 3
MESSAGE_LIMIT = 500


@dataclass(frozen=True)
class VerifyOutcome:
    """One verification's result; `error` says why it could not finish or what failed."""

    snapshot_id: str | None
    chunks: int = 0
    corrupt: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    error: str | None = None
    keys: KeyUsage | None = None

    @property
    def ok(self) -> bool:
        return self.snapshot_id is not None and not (self.corrupt or self.missing or self.error)


#: What the runner calls to verify its latest snapshot (snapshotter.build_verify_hook).
VerifyHook = Callable[[], Awaitable[VerifyOutcome]]


def metrics_result(outcome: VerifyOutcome) -> str:
    """The `result` label: ok, damaged (the snapshot is), or failed (nothing was checked)."""
    if outcome.snapshot_id is None:
        return "failed"
    return "ok" if outcome.ok else "damaged"


def _ids(ids: tuple[str, ...]) -> str:
    shown = ", ".join(ids[:MAX_IDS_IN_MESSAGE])
    more = len(ids) - MAX_IDS_IN_MESSAGE
    return f"{shown} and {more} more" if more > 0 else shown


def verify_message(outcome: VerifyOutcome) -> str:
    """One short line for status and the CLI: what was checked, what is wrong, keys needed."""
    keys = f"; {key_usage_line(outcome.keys)}" if outcome.keys is not None else ""
    return _finding(outcome)[: max(MESSAGE_LIMIT - len(keys), MESSAGE_LIMIT // 2)] + keys


def _finding(outcome: VerifyOutcome) -> str:
    if outcome.snapshot_id is None:
        return f"nothing verified: {outcome.error or 'no snapshot'}"[:MESSAGE_LIMIT]
    head = f"snapshot {outcome.snapshot_id}"
    if outcome.ok:
        return f"{head}: all {outcome.chunks} chunk(s) verified"
    parts: list[str] = []
    if outcome.error:
        parts.append(outcome.error)
    if outcome.corrupt:
        parts.append(f"{len(outcome.corrupt)} corrupt chunk(s) ({_ids(outcome.corrupt)})")
    if outcome.missing:
        parts.append(f"{len(outcome.missing)} missing chunk(s) ({_ids(outcome.missing)})")
    repair = "; the next snapshot uploads them again" if outcome.corrupt or outcome.missing else ""
    return f"{head} of {outcome.chunks} chunk(s): {'; '.join(parts)}{repair}"[:MESSAGE_LIMIT]


def last_verify_status(request: str, outcome: VerifyOutcome, now: datetime) -> dict[str, Any]:
    """The `status.runner.lastVerify` object (camelCase, as the CRD's RunnerReport has it)."""
    return {
        "request": request,
        "snapshotId": outcome.snapshot_id,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ok": outcome.ok,
        "corruptChunks": len(outcome.corrupt),
        "missingChunks": len(outcome.missing),
        "message": verify_message(outcome),
    }
