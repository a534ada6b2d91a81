"""Kept so existing imports work: the annotations are part of the operator↔runner contract
and live in `session_runner.contract.annotations`."""

from __future__ import annotations

from session_runner.contract.annotations import (
    FENCED_ANNOTATION,
    SKIP_SNAPSHOT_DELETION_ANNOTATION,
    SNAPSHOT_REQUEST_ANNOTATION,
    VERIFY_REQUEST_ANNOTATION,
    is_fenced,
    is_new_request,
    skips_snapshot_deletion,
)

__all__ = [
    "FENCED_ANNOTATION",
    "SKIP_SNAPSHOT_DELETION_ANNOTATION",
    "SNAPSHOT_REQUEST_ANNOTATION",
    "VERIFY_REQUEST_ANNOTATION",
    "is_fenced",
    "is_new_request",
    "skips_snapshot_deletion",
]
