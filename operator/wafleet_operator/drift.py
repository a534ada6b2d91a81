"""Pure: is a child's watch event drift the operator must repair, or its own controller's noise?

Every MODIFIED event of a child used to reconcile its account (read it, apply
all six children, maybe write status). On a real cluster most of those events
are not drift at all: the StatefulSet controller writes the StatefulSet's
status each time its pod is created, scheduled, becomes ready or goes away,
and none of that is the operator's to repair. The emulator never wrote a
child's status, so the cost never showed; on the real server it multiplied
the operator's writes.

What the operator owns in a child is what it applies: the spec (a change
bumps ``metadata.generation`` on kinds that have one), labels, annotations
and owner references, and for kinds without a generation the rest of the
object (RBAC rules, a ServiceAccount's fields). The fingerprint keeps exactly
that, plus the few status fields the account's own status is computed from
(a StatefulSet's ``readyReplicas``: the account is Ready only once its pod
is); a MODIFIED event whose fingerprint equals the last one seen for the
object changes nothing the account depends on. An object seen for the first
time counts (after a restart the operator cannot know what changed), as does
every deletion.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

#: Status fields the operator reads (reconcile.py): a change must reach the account's status.
OBSERVED_STATUS = ("readyReplicas",)

#: Fields of an object that only its own controllers write, never the operator.
SERVER_OWNED_METADATA = frozenset(
    {"resourceVersion", "managedFields", "generation", "creationTimestamp", "uid", "selfLink"}
)


def fingerprint(body: Mapping[str, Any]) -> str:
    """A digest of what the operator applies in `body`, blind to status and server fields."""
    meta = body.get("metadata") or {}
    owned_meta = {k: v for k, v in meta.items() if k not in SERVER_OWNED_METADATA}
    rest = {k: v for k, v in body.items() if k not in ("metadata", "status")}
    if "generation" in meta:
        # The spec is summarised by its generation: the server bumps it on every change.
        rest = {"generation": meta["generation"]}
    status = body.get("status") or {}
    observed = {k: status.get(k) for k in OBSERVED_STATUS if k in status}
    canonical = json.dumps(
        {"metadata": owned_meta, "rest": rest, "observed": observed}, sort_keys=True, default=str
    )
    return hashlib.blake2b(canonical.encode(), digest_size=16).hexdigest()


def is_drift(event_type: str, previous: str | None, current: str) -> bool:
    """Whether an event of a child should reconcile its account (drift, or a fact its status uses).

    `previous` is the fingerprint last seen for the object (None: never seen),
    `current` the one of the object in the event.
    """
    if event_type == "DELETED":
        return True
    if event_type != "MODIFIED":
        return False  # ADDED: the operator just created it; the initial listing: resumed anyway
    return previous is None or previous != current
