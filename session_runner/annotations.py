"""Annotations people (or the CLI) set on a WhatsAppAccount, read by the operator and the runner."""

from __future__ import annotations

from collections.abc import Mapping

#: Stop the session but keep the pod, for incident work; any value but "false" fences.
FENCED_ANNOTATION = "wafleet.io/fenced"
#: A new value (the CLI writes a timestamp) asks the runner for a snapshot now.
SNAPSHOT_REQUEST_ANNOTATION = "wafleet.io/snapshot-request"


def is_fenced(annotations: Mapping[str, str]) -> bool:
    """The fence holds unless the annotation is absent or explicitly "false"."""
    value = annotations.get(FENCED_ANNOTATION)
    return value is not None and value.strip().lower() != "false"
