"""Why a session is fenced, and whether that fence may lift by itself.

A fenced runner has killed its engine, released the lease and does not
compete again. What may end that depends on who fenced it:

- the wafleet.io/fenced annotation (a person, for incident work): the fence
  lifts when the annotation is removed, and the runner competes again;
- WhatsApp's conflict signal ("stream replaced": another client took the
  session): nothing the runner can observe says it is safe again, so it waits
  for a person to restart it.

The reason is an enum and the detail text is kept apart, so that rule never
depends on how a message is worded.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class FenceReason(Enum):
    """Who fenced the session."""

    ANNOTATION = "annotation"  # wafleet.io/fenced is set
    CONFLICT = "conflict"  # WhatsApp says another client took the session


@dataclass(frozen=True)
class Fence:
    """One fence: why, and what WhatsApp said (for a conflict)."""

    reason: FenceReason
    detail: str = ""

    @property
    def message(self) -> str:
        """What the runner reports with phase Fenced."""
        if self.reason is FenceReason.ANNOTATION:
            return "the wafleet.io/fenced annotation is set"
        return f"WhatsApp says another client took the session: {self.detail}"


def may_lift(reason: FenceReason, *, can_read_annotations: bool) -> bool:
    """Pure: may this fence end without a restart?

    Only an annotation fence, and only when the runner can read the account's
    annotations (outside Kubernetes it cannot see the annotation removed).
    """
    return reason is FenceReason.ANNOTATION and can_read_annotations
