"""A WebhookSubscription as the dispatcher uses it: a frozen snapshot of its spec and state.

Read from the API server's objects (which the CRD's schema validated and
defaulted already), so the parsing here only has to be total, not strict:
a field the schema guarantees is read directly, and the defaults repeat the
CRD's for objects written before a field existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

#: The CRD's defaults (operator/wafleet_operator/api/webhook_subscription.py).
DEFAULT_TIMEOUT_S: Final = 5.0
DEFAULT_SCHEDULE_S: Final = (5, 300, 1800, 7200, 18000, 36000, 36000)
DEFAULT_JITTER_RATIO: Final = 0.2
DEFAULT_FAILURES_IN_24H: Final = 20
DEFAULT_SECRET_KEY: Final = "secret"
#: The condition the dispatcher sets when it switches a subscription off; its
#: observedGeneration is the generation it was switched off at.
TOMBSTONED: Final = "Tombstoned"


@dataclass(frozen=True)
class Subscriber:
    """One subscription: where, what, how, and whether it may be sent to now."""

    namespace: str
    name: str
    generation: int
    url: str
    event_types: frozenset[str]
    accounts: frozenset[str]  # empty: every account (and every pool)
    secret_name: str
    secret_key: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    schedule_s: tuple[int, ...] = DEFAULT_SCHEDULE_S
    jitter_ratio: float = DEFAULT_JITTER_RATIO
    failures_in_24h: int = DEFAULT_FAILURES_IN_24H
    disabled: bool = False
    #: switched off at this very generation (any spec change, `disabled` back to false
    #: included, makes a new generation and so resurrects it)
    tombstoned: bool = False
    #: `tombstone.heldEvents: Replay`: events for it while tombstoned wait (`fate.py`)
    replay_held: bool = False

    @property
    def key(self) -> str:
        """`namespace/name`: how logs, metrics and the failure window name it."""
        return f"{self.namespace}/{self.name}"

    @property
    def live(self) -> bool:
        """Whether deliveries may go to it now."""
        return not (self.disabled or self.tombstoned)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Subscriber:
        """From a WebhookSubscription as the API server returns it."""
        meta = obj["metadata"]
        spec = obj["spec"]
        status = obj.get("status") or {}
        generation = int(meta.get("generation") or 0)
        retry = spec.get("retry") or {}
        tombstone = spec.get("tombstone") or {}
        secret = spec["signingSecret"]
        tombstoned = any(
            c.get("type") == TOMBSTONED
            and c.get("status") == "True"
            and c.get("observedGeneration") == generation
            for c in status.get("conditions") or ()
        )
        return cls(
            namespace=str(meta["namespace"]),
            name=str(meta["name"]),
            generation=generation,
            url=str(spec["url"]),
            event_types=frozenset(str(t) for t in spec["eventTypes"]),
            accounts=frozenset(str(a) for a in spec.get("accounts") or ()),
            secret_name=str(secret["name"]),
            secret_key=str(secret.get("key") or DEFAULT_SECRET_KEY),
            timeout_s=float(spec.get("timeoutSeconds", DEFAULT_TIMEOUT_S)),
            schedule_s=tuple(int(s) for s in retry.get("schedule", DEFAULT_SCHEDULE_S)),
            jitter_ratio=float(retry.get("jitterRatio", DEFAULT_JITTER_RATIO)),
            failures_in_24h=int(tombstone.get("failuresIn24h", DEFAULT_FAILURES_IN_24H)),
            disabled=bool(spec.get("disabled", False)),
            tombstoned=tombstoned,
            replay_held=tombstone.get("heldEvents") == "Replay",
        )
