"""The PodDisruptionBudget of a pool's senders."""

from __future__ import annotations

from typing import Any

from wafleet_operator.specs.labels import sender_selector_labels
from wafleet_operator.specs.naming import sender_child_name

from .pool import PoolRef, pool_object_meta


def build_sender_pdb(pool: PoolRef) -> dict[str, Any]:
    """PodDisruptionBudget ``sp-<pool>``: a drain evicts one sender at a time.

    ``maxUnavailable: 1``, not a ``minAvailable``: a sender's work lives in the
    queue, not in the pod, so an evicted sender only delays messages (what it had
    received becomes visible again after the visibility timeout and another replica
    takes it); the budget only keeps a drain from taking the whole pool at once. A
    ``minAvailable: 1`` would block every drain of a pool running one replica, and
    mean nothing for one scaled to zero. ``unhealthyPodEvictionPolicy: AlwaysAllow``:
    a sender that is not Ready is not draining anything, so evicting it costs nothing;
    the default (IfHealthyBudget) would block a node drain whenever more than one
    sender of the pool is unhealthy (crash-looping on credentials the vendor revoked).
    """
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": pool_object_meta(pool, sender_child_name(pool.name)),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": sender_selector_labels(pool.name)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
