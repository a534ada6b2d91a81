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
that; a MODIFIED event whose fingerprint equals the last one seen for the
object is not drift. An object seen for the first time is drift (after a
restart the operator cannot know what changed), as is every deletion.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

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
    canonical = json.dumps({"metadata": owned_meta, "rest": rest}, sort_keys=True, default=str)
    return hashlib.blake2b(canonical.encode(), digest_size=16).hexdigest()


def is_drift(event_type: str, previous: str | None, current: str) -> bool:
    """Whether an event of a child should reconcile its account.

    `previous` is the fingerprint last seen for the object (None: never seen),
    `current` the one of the object in the event.
    """
    if event_type == "DELETED":
        return True
    if event_type != "MODIFIED":
        return False  # ADDED: the operator just created it; the initial listing: resumed anyway
    return previous is None or previous != current
