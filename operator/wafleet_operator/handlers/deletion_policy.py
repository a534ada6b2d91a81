"""Pure: how long the finalizer keeps trying to delete an account's snapshots, and when it stops.

The finalizer of an account with `deletionPolicy: Delete` must end. Some
obstacles pass (the runner still writing its final snapshot, a store briefly
unreachable); some never do (the credentials Secret deleted first in a
namespace teardown, an invalid region, an endpoint that is gone, an
`owner.json` naming someone else). Every obstacle has a bounded budget of
attempts with exponential backoff; once it is spent the deletion is *blocked*:
a Warning event and a `SnapshotsDeleted=False` condition say why, and the
finalizer stays until a person sets `wafleet.io/skip-snapshot-deletion: "true"`
(the account goes, its snapshots stay) or removes the record annotation below
after fixing the cause (the budget starts again).

The attempts are counted per obstacle in one annotation the handler writes
(`RECORD_ANNOTATION`), not with kopf's own retry counter: that one also counts
the polls while the runner stops, which would eat the budget of the store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from wafleet_operator.api import Engine
from wafleet_operator.config import ANNOTATION_PREFIX
from wafleet_operator.specs.runner_config import TERMINATION_GRACE_SECONDS

#: The deletion's attempts and whether it is blocked, as JSON. Under kopf's prefix, so no
#: handler treats a write of it as a change of the account.
RECORD_ANNOTATION = f"{ANNOTATION_PREFIX}/snapshot-deletion"

CONDITION_TYPE = "SnapshotsDeleted"
BLOCKED_REASON = "DeletionBlocked"
#: How often a blocked deletion looks for the skip annotation (kopf does not run a
#: postponed handler early when the object changes, so this is the let-go latency).
BLOCKED_POLL_SECONDS: Final = 10.0


class Obstacle(StrEnum):
    """Why one deletion attempt did not finish; the value is what events and conditions say."""

    #: The runner pod still exists (it takes its final snapshot on SIGTERM).
    RUNNER_RUNNING = "RunnerStillRunning"
    #: The store or the API server failed (unreachable endpoint, throttling, 5xx ...).
    UNAVAILABLE = "StoreUnavailable"
    #: The credentials Secret, or one of its keys, does not exist.
    CREDENTIALS_MISSING = "CredentialsMissing"
    #: The store refused the account's keys.
    CREDENTIALS_REFUSED = "CredentialsRefused"
    #: spec.snapshot.credentialsSecret is not set: the operator never uses its own identity.
    NO_CREDENTIALS = "NoCredentialsSecret"
    #: owner.json does not name this account: never delete.
    FOREIGN_OWNER = "ForeignOwner"
    #: The spec cannot be read, so where the snapshots are is unknown.
    INVALID_SPEC = "InvalidSpec"


@dataclass(frozen=True)
class Backoff:
    """Attempt n (1-based) waits first * factor**(n-1) seconds, at most cap; `attempts` in all."""

    first: float
    factor: float
    cap: float
    attempts: int

    def delay(self, attempt: int) -> float:
        return float(min(self.cap, self.first * self.factor ** (attempt - 1)))


@dataclass(frozen=True)
class GiveUp:
    """Stop retrying: the deletion is blocked until a person acts."""


GIVE_UP: Final = GiveUp()

#: How long the runner may take to go: its longest termination grace period plus a margin.
RUNNER_POLL_SECONDS: Final = 5.0
RUNNER_WAIT_MARGIN_SECONDS: Final = 30
RUNNER_WAIT_ATTEMPTS: Final = math.ceil(
    (max(TERMINATION_GRACE_SECONDS[e] for e in Engine) + RUNNER_WAIT_MARGIN_SECONDS)
    / RUNNER_POLL_SECONDS
)

#: The budget of each obstacle; None gives up at once (retrying cannot change the answer).
POLICY: Final[Mapping[Obstacle, Backoff | None]] = {
    Obstacle.RUNNER_RUNNING: Backoff(
        RUNNER_POLL_SECONDS, 1.0, RUNNER_POLL_SECONDS, RUNNER_WAIT_ATTEMPTS
    ),
    # 2+4+8+16+32+60+60 s: an endpoint may be away for about three minutes.
    Obstacle.UNAVAILABLE: Backoff(2.0, 2.0, 60.0, 8),
    # A Secret restored soon after is still noticed; a namespace teardown ends in ~14 s.
    Obstacle.CREDENTIALS_MISSING: Backoff(2.0, 2.0, 60.0, 4),
    Obstacle.CREDENTIALS_REFUSED: Backoff(2.0, 2.0, 60.0, 4),
    Obstacle.NO_CREDENTIALS: None,
    Obstacle.FOREIGN_OWNER: None,
    Obstacle.INVALID_SPEC: None,
}


def deletion_retry(attempt: int, obstacle: Obstacle) -> float | GiveUp:
    """Seconds before attempt `attempt` + 1, after the `attempt`-th failure on `obstacle`."""
    backoff = POLICY[obstacle]
    if backoff is None or attempt >= backoff.attempts:
        return GIVE_UP
    return backoff.delay(attempt)


@dataclass(frozen=True)
class DeletionRecord:
    """What RECORD_ANNOTATION holds: failures per obstacle, and the obstacle that blocked."""

    attempts: Mapping[str, int] = field(default_factory=dict)
    blocked: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> DeletionRecord:
        """The record, or a fresh one when absent or unreadable (a person may have edited it)."""
        try:
            raw: Any = json.loads(text or "{}")
            attempts = {str(k): int(v) for k, v in dict(raw.get("attempts") or {}).items()}
            blocked = raw.get("blocked")
            return cls(attempts, str(blocked) if blocked else None)
        except (TypeError, ValueError, AttributeError):
            return cls()

    def to_json(self) -> str:
        return json.dumps(
            {"attempts": dict(sorted(self.attempts.items())), "blocked": self.blocked},
            separators=(",", ":"),
        )

    def after_failure(self, obstacle: Obstacle) -> tuple[DeletionRecord, float | GiveUp]:
        """The record after one more failure on `obstacle`, and what to do next."""
        attempt = self.attempts.get(obstacle.value, 0) + 1
        decision = deletion_retry(attempt, obstacle)
        record = DeletionRecord(
            {**self.attempts, obstacle.value: attempt},
            obstacle.value if isinstance(decision, GiveUp) else None,
        )
        return record, decision


def blocked_message(obstacle: str, detail: str, skip_annotation: str) -> str:
    """What the condition and the Warning event say: the cause and both ways out."""
    return (
        f"{obstacle}: {detail}. The snapshots were not deleted and the account stays until "
        f'{skip_annotation}: "true" is set (the account goes, its snapshots stay), or the '
        f"cause is fixed and the annotation {RECORD_ANNOTATION} removed (deletion is retried)"
    )


def blocked_condition(
    message: str, now: str, previous: list[Mapping[str, Any]], generation: int
) -> list[dict[str, Any]]:
    """`previous` conditions with SnapshotsDeleted=False/DeletionBlocked set (others kept)."""
    old = next((c for c in previous if c.get("type") == CONDITION_TYPE), None)
    unchanged = old is not None and old.get("status") == "False"
    condition = {
        "type": CONDITION_TYPE,
        "status": "False",
        "reason": BLOCKED_REASON,
        "message": message,
        "lastTransitionTime": old.get("lastTransitionTime") if unchanged and old else now,
        "observedGeneration": generation,
    }
    return [dict(c) for c in previous if c.get("type") != CONDITION_TYPE] + [condition]
