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


def is_fenced(annotations: Mapping[str, str]) -> bool:
    """The fence holds unless the annotation is absent or explicitly "false"."""
    value = annotations.get(FENCED_ANNOTATION)
    return value is not None and value.strip().lower() != "false"


def is_new_request(value: str | None, served: str | None) -> bool:
    """Whether an on-demand request annotation asks for something not done yet.

    Requests are opaque values (the CLI writes a timestamp): any non-empty
    value other than the one last served is new. Removing the annotation asks
    for nothing, and setting it back to the served value repeats nothing.
    """
    return bool(value) and value != served
