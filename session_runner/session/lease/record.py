"""What a lease *is*, independent of where it is stored.

One `LeaseRecord` shape for every backend (a coordination.k8s.io/v1 Lease, a
DynamoDB item, the in-memory test store), so the decisions in `decision.py`
and the elector never know which backend they talk to.

The timestamps in a record are informational only (shown by kubectl, useful
in status): clocks on different machines disagree and jump, so expiry is
never computed from them. Expiry is measured on the observing runner's own
monotonic clock (see `decision.observe`). The one exception, `holder_state`,
reads them for status display only, never for who runs the engine.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True)
class LeaseRecord:
    """One observed (or to-be-written) state of a lease.

    `version` is the backend's optimistic-concurrency token: the Kubernetes
    resourceVersion, or the DynamoDB item's version attribute. A record handed
    to `LeaseBackend.update` carries the version it *expects* to replace; the
    record a backend returns carries the version it now has.
    """

    holder: str | None
    lease_duration_s: float
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0
    version: str = ""

    @property
    def held(self) -> bool:
        """Whether anyone holds it (an empty holderIdentity means released)."""
        return bool(self.holder)


@dataclass(frozen=True)
class LeaseTimings:
    """client-go's three durations, in seconds (defaults 15 / 10 / 2).

    The ordering is what makes the lease safe: a holder gives up after
    `renew_deadline` without a successful renewal, strictly before anyone
    else may take over (`duration` after they last saw the record change);
    `renew_deadline` must leave room for more than one retry (client-go's
    JitterFactor of 1.2).
    """

    duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        for name in ("duration", "renew_deadline", "retry_period"):
            if not getattr(self, name) > 0:
                raise ValueError(f"lease timing {name} must be positive, got {getattr(self, name)}")
        if not self.duration > self.renew_deadline:
            raise ValueError(
                f"lease timing duration ({self.duration}) must be greater than "
                f"renew_deadline ({self.renew_deadline})"
            )
        if not self.renew_deadline > JITTER_FACTOR * self.retry_period:
            raise ValueError(
                f"lease timing renew_deadline ({self.renew_deadline}) must be greater than "
                f"{JITTER_FACTOR} x retry_period ({self.retry_period})"
            )


# client-go's leaderelection.JitterFactor: retries wait RetryPeriod * (1 + 1.2 * rand).
JITTER_FACTOR = 1.2


class LeaseError(Exception):
    """Base of the errors a lease backend raises."""


class LeaseConflict(LeaseError):  # noqa: N818 (names shared with the issue and callers)
    """Someone else wrote first: 409 Conflict / AlreadyExists, or a failed DynamoDB condition."""


class LeaseNotFound(LeaseError):  # noqa: N818
    """The lease to update does not exist (it was deleted, or never created)."""


class LeaseBackendError(LeaseError):
    """A transient failure (timeout, 5xx, dropped connection): the outcome of a write is unknown."""


def unique_identity(pod_name: str) -> str:
    """`pod_name` plus a per-process suffix, as client-go's examples build their ids.

    A StatefulSet pod name is not unique in time: after a force-deletion on a
    partitioned node the old pod can still run while its replacement, with the
    same name, starts. Holder identity `== me` lets a runner re-take its own
    record at once, so two processes sharing one identity could both run.
    `holder_pod` recovers the pod name for status and events.
    """
    return f"{pod_name}_{secrets.token_hex(4)}"


def holder_pod(identity: str | None) -> str | None:
    """The pod name inside an identity made by `unique_identity` (other identities unchanged)."""
    if not identity:
        return None
    head, sep, tail = identity.rpartition("_")
    if sep and len(tail) == 8 and all(c in "0123456789abcdef" for c in tail):
        return head
    return identity


class HolderState(StrEnum):
    """Who holds a lease, as far as its timestamps tell (see `holder_state`)."""

    NONE = "none"  # no lease, or released
    LIVE = "live"  # renewed within its duration of now
    EXPIRED = "expired"  # a whole duration without renewal
    UNKNOWN = "unknown"  # held, but no readable renewal time or duration


def holder_state(record: LeaseRecord | None, now_wall: datetime) -> HolderState:
    """Whether `record`'s holder looks alive on *our* wall clock: for status reports only.

    Both sides decide about `status.runner` with it: the runner, whether a
    start-up failure may replace the report there (only if no holder is live);
    the operator, whether a token-less Failed report stands for the account
    (only while the lease is free: NONE or EXPIRED). It compares the holder's
    wall clock with ours, which the lease itself never does (`decision.py`), so
    a skew of the clocks can misjudge it by that much; a wrong guess costs one
    report or one status update, and never decides who runs the engine.
    UNKNOWN is neither live nor free: each caller takes the cautious reading.
    """
    if record is None or not record.held:
        return HolderState.NONE
    if record.renew_time is None or record.lease_duration_s <= 0:
        return HolderState.UNKNOWN
    if now_wall < record.renew_time + timedelta(seconds=record.lease_duration_s):
        return HolderState.LIVE
    return HolderState.EXPIRED
