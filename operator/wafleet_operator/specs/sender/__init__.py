"""Pure builders: a SenderPool in, the Kubernetes objects its senders need out.

One module per object, as for an account: ``deployment`` (the senders),
``service_account`` (their identity, with no Kubernetes permissions: a sender
never calls the API server), ``pdb`` (their disruption budget), ``keda`` (the ScaledObject of a KEDA-scaled pool); ``settings`` fills
the sender's contract, ``pool`` holds the pool's identity and the children's
metadata. Every child is named ``sp-<pool>`` (``naming.sender_child_name``).
The pool's AWS half (queues, subscription) is not here: ``wafleet_operator.outbound``.
"""

from __future__ import annotations

from typing import Any

from wafleet_operator.api.sender_pool import ScalingProvider, SenderPoolSpec
from wafleet_operator.config import OperatorSettings

from .deployment import (
    SenderImageNotAllowedError,
    build_sender_deployment,
    sender_image,
    sender_image_problem,
)
from .keda import KedaAuthentication, KedaAuthKind, build_scaled_object
from .pdb import build_sender_pdb
from .pool import PoolRef
from .service_account import build_sender_service_account
from .settings import SenderWiring, build_sender_env, build_sender_settings

#: Kinds in the order build_sender_children returns (and the operator applies) them;
#: ScaledObject only for a KEDA-scaled pool.
SENDER_APPLY_ORDER = (
    "ServiceAccount",
    "PodDisruptionBudget",
    "Deployment",
    "ScaledObject",
)


def build_sender_children(
    pool: PoolRef,
    spec: SenderPoolSpec,
    settings: OperatorSettings,
    wiring: SenderWiring,
    *,
    replicas: int | None = None,
    keda_authentication: KedaAuthentication | None = None,
) -> list[dict[str, Any]]:
    """Every Kubernetes child of the pool, in apply order.

    The ServiceAccount first, so the pods (and an IRSA or Pod Identity binding that
    names it) find it from the start; the disruption budget before the pods it guards; the Deployment,
    which starts something; the ScaledObject last, as it needs its target to
    exist (KEDA reports it not Ready until then). Raises
    :class:`SenderImageNotAllowedError` for an image the allow-list refuses.
    """
    children = [
        build_sender_service_account(pool),
        build_sender_pdb(pool),
        build_sender_deployment(pool, spec, settings, wiring, replicas=replicas),
    ]
    if spec.scaling.provider is ScalingProvider.KEDA:
        children.append(build_scaled_object(pool, spec, wiring, authentication=keda_authentication))
    return children


__all__ = [
    "SENDER_APPLY_ORDER",
    "KedaAuthKind",
    "KedaAuthentication",
    "PoolRef",
    "SenderImageNotAllowedError",
    "SenderWiring",
    "build_scaled_object",
    "build_sender_children",
    "build_sender_deployment",
    "build_sender_env",
    "build_sender_pdb",
    "build_sender_service_account",
    "build_sender_settings",
    "sender_image",
    "sender_image_problem",
]
