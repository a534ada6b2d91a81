"""Prometheus metrics of snapshots and restores (served by the runner's metrics port)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SNAPSHOTS = Counter(
    "wafleet_snapshots_total", "Snapshots attempted, by result (ok, skipped, failed).", ["result"]
)
SNAPSHOT_BYTES = Counter(
    "wafleet_snapshot_uploaded_bytes_total", "Encrypted chunk bytes uploaded by snapshots."
)
SNAPSHOT_SECONDS = Histogram(
    "wafleet_snapshot_seconds",
    "Time from capture to the latest-pointer written.",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
RESTORES = Counter(
    "wafleet_restores_total",
    "Restores, by result (ok, fallback, fresh, failed).",
    ["result"],
)
GC_DELETED_CHUNKS = Counter(
    "wafleet_snapshot_gc_deleted_chunks_total", "Chunk objects deleted by garbage collection."
)
CORRUPT_CHUNKS = Counter(
    "wafleet_snapshot_corrupt_chunks_total",
    "Chunk objects a restore or verification found corrupt (marked for re-upload).",
)
REPAIRED_CHUNKS = Counter(
    "wafleet_snapshot_repaired_chunks_total",
    "Chunks a snapshot uploaded again because their stored object was found corrupt.",
)
VERIFICATIONS = Counter(
    "wafleet_snapshot_verifications_total",
    "On-demand verifications of the latest snapshot, by result (ok, damaged, failed: nothing"
    " was checked).",
    ["result"],
)
