"""Kubernetes conditions as every wafleet resource writes them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


def condition(
    kind: str,
    status: str,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
    previous: tuple[dict[str, Any], ...],
) -> dict[str, Any]:
    """A condition whose lastTransitionTime moves only when its status changes."""
    transition = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for old in previous:
        if (
            old.get("type") == kind
            and old.get("status") == status
            and old.get("lastTransitionTime")
        ):
            transition = str(old["lastTransitionTime"])
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }


def find_condition(conditions: Iterable[Mapping[str, Any]] | None, kind: str) -> Mapping[str, Any]:
    """The condition of type `kind`, or an empty mapping."""
    return next((c for c in conditions or () if c.get("type") == kind), {})
