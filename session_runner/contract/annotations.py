"""Annotations people (or the CLI) set on a WhatsAppAccount, read by the operator and the runner."""

from __future__ import annotations

from collections.abc import Mapping

#: Stop the session but keep the pod, for incident work; any value but "false" fences.
FENCED_ANNOTATION = "wafleet.io/fenced"
#: A new value (the CLI writes a timestamp) asks the runner for a snapshot now.
SNAPSHOT_REQUEST_ANNOTATION = "wafleet.io/snapshot-request"
#: A new value (the CLI writes a timestamp) asks the runner to verify the latest snapshot;
#: the runner answers under status.runner.lastVerify with the value it answered.
VERIFY_REQUEST_ANNOTATION = "wafleet.io/verify-request"
#: "true" on an account being deleted with `deletionPolicy: Delete` whose snapshot deletion
#: is blocked (credentials gone, store unreachable, owner.json names another account): the
#: operator lets the account go and leaves its snapshots where they are.
SKIP_SNAPSHOT_DELETION_ANNOTATION = "wafleet.io/skip-snapshot-deletion"


def is_fenced(annotations: Mapping[str, str]) -> bool:
    """The fence holds unless the annotation is absent or explicitly "false"."""
    value = annotations.get(FENCED_ANNOTATION)
    return value is not None and value.strip().lower() != "false"


def skips_snapshot_deletion(annotations: Mapping[str, str]) -> bool:
    """Only an explicit "true" lets go: leaving snapshots behind must be asked for, not implied."""
    value = annotations.get(SKIP_SNAPSHOT_DELETION_ANNOTATION)
    return value is not None and value.strip().lower() == "true"


def is_new_request(value: str | None, served: str | None) -> bool:
    """Whether an on-demand request annotation asks for something not done yet.

    Requests are opaque values (the CLI writes a timestamp): any non-empty
    value other than the one last served is new. Removing the annotation asks
    for nothing, and setting it back to the served value repeats nothing.
    """
    return bool(value) and value != served
