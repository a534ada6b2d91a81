"""A sender's identity, and no Kubernetes permissions at all.

A sender never talks to the Kubernetes API: its work is in SQS, what it sent is
in the DynamoDB ledger, and the pool-wide throttle is an item of the same table
(``session_runner.sender.ratelimit``), which the operator reads for the pool's
``Throttled`` condition. So each pool gets a ServiceAccount and nothing bound
to it, and no pod of the pool carries an API token: a compromised sender (it
holds a vendor's credentials and talks to the internet) has no credential for
the API server at all, not even one for its own pool.

The ServiceAccount still exists, one per pool, because AWS identities hang off
it: IRSA (``eks.amazonaws.com/role-arn``) and EKS Pod Identity associations name
a ServiceAccount. Neither needs the automounted API token: both inject their own
projected token, audience ``sts.amazonaws.com`` (or the Pod Identity agent's),
into the pod whatever ``automountServiceAccountToken`` says.
"""

from __future__ import annotations

from typing import Any

from wafleet_operator.specs.naming import sender_child_name

from .pool import PoolRef, pool_object_meta


def build_sender_service_account(pool: PoolRef) -> dict[str, Any]:
    """ServiceAccount ``sp-<pool>``, for the pool's AWS identity; it mounts no API token
    (the Deployment's pod spec says so too, so neither alone can turn it back on)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": pool_object_meta(pool, sender_child_name(pool.name)),
        "automountServiceAccountToken": False,
    }
