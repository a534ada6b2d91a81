"""Pure: which key-encryption keys the kept snapshots still need (key rotation's last step).

The account's encryption-key Secret is mounted as a directory: the current
KEK in the file named `spec.snapshot.encryptionKeySecret.key` (default
`key`), retired ones beside it as `key.1`, `key.2` … (`load_keyring`). A
retired KEK may leave the Secret once no snapshot in the store was written
under it: retention drops old snapshots, and `wafleet verify` reports
`key_usage_line` so the user knows when. Key ids are the first 16 hex digits
of sha256(KEK): they name a key without revealing it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class KeyUsage:
    """Key ids, each sorted: what the store's snapshots need, and what the key ring holds."""

    current: str
    needed: tuple[str, ...]  # used by at least one snapshot in the store
    removable: tuple[str, ...]  # in the ring, not current, used by no snapshot
    missing: tuple[str, ...]  # used by a snapshot, not in the ring: those do not restore


def key_usage(snapshot_key_ids: Iterable[str], ring_ids: Iterable[str], current: str) -> KeyUsage:
    """Compare the key ids of the store's snapshots with the runner's key ring."""
    needed = set(snapshot_key_ids)
    ring = set(ring_ids) | {current}
    return KeyUsage(
        current=current,
        needed=tuple(sorted(needed)),
        removable=tuple(sorted(ring - needed - {current})),
        missing=tuple(sorted(needed - ring)),
    )


def key_usage_line(usage: KeyUsage) -> str:
    """One clause for status and `wafleet verify`: the keys still needed, and what may go."""
    named = [f"{k} (current)" if k == usage.current else k for k in usage.needed]
    head = f"snapshots need key(s) {', '.join(named)}" if named else "no snapshot needs a key"
    if usage.current not in usage.needed:
        head += f"; new snapshots use {usage.current} (current)"
    parts = [head]
    if usage.removable:
        parts.append(
            f"no longer needed: {', '.join(usage.removable)} (may be removed from the Secret)"
        )
    if usage.missing:
        parts.append(
            f"not in the key ring: {', '.join(usage.missing)} (snapshots under it cannot restore)"
        )
    return "; ".join(parts)
