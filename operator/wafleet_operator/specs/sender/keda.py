"""The KEDA ScaledObject of a pool scaled by KEDA (``spec.scaling.provider: keda``).

Field names as KEDA documents them (https://keda.sh/docs/latest/reference/scaledobject-spec/
and https://keda.sh/docs/latest/scalers/aws-sqs/):

- ``spec.scaleTargetRef`` {apiVersion, kind, name}: the pool's Deployment.
- ``spec.minReplicaCount`` / ``spec.maxReplicaCount``: ``spec.replicas``. With a
  minimum of 0 KEDA itself scales 0↔1 (activation) and leaves 1..max to an HPA.
- ``spec.cooldownPeriod``: how long after the last active trigger KEDA scales 1→0;
  the HPA's window below does not cover that step, so both get the pool's window.
- ``spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown
  .stabilizationWindowSeconds``: the HPA's own window (scale down only to the
  highest recommendation of the window; scale up at once, the HPA's default).
- ``spec.triggers[]`` of ``type: aws-sqs-queue``, whose ``metadata`` is a map of
  strings: ``queueURL``, ``queueLength`` (messages per replica: the pool's
  ``backlogPerReplica``), ``activationQueueLength`` (0: any message wakes an idle
  pool), ``scaleOnInFlight`` (count received-but-not-deleted messages, so a replica
  mid-send is not scaled away), ``awsRegion`` and, off AWS, ``awsEndpoint``; and an
  optional ``authenticationRef`` {name, kind} to a (Cluster)TriggerAuthentication
  saying how KEDA reaches SQS (``podIdentity``, a role, or keys), which the cluster's
  administrator provides.

Both providers compute the same number: ceil((visible + in flight) / backlogPerReplica)
within the bounds (``wafleet_operator.scaling.desired_replicas``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wafleet_operator.api.sender_pool import ScalingProvider, SenderPoolSpec
from wafleet_operator.specs.naming import sender_child_name

from .pool import PoolRef, pool_object_meta
from .settings import SenderWiring

KEDA_API_VERSION = "keda.sh/v1alpha1"
SQS_TRIGGER = "aws-sqs-queue"


class KedaAuthKind(StrEnum):
    TRIGGER_AUTHENTICATION = "TriggerAuthentication"
    CLUSTER_TRIGGER_AUTHENTICATION = "ClusterTriggerAuthentication"


@dataclass(frozen=True, slots=True)
class KedaAuthentication:
    """The (Cluster)TriggerAuthentication KEDA uses to read the queues' depth: one the
    administrator made, named in the operator's settings. Cluster-scoped by default,
    because one serves every pool in every namespace."""

    name: str
    kind: KedaAuthKind = KedaAuthKind.CLUSTER_TRIGGER_AUTHENTICATION


def sqs_trigger(
    spec: SenderPoolSpec, wiring: SenderWiring, authentication: KedaAuthentication | None
) -> dict[str, Any]:
    """The ``aws-sqs-queue`` trigger; every metadata value is a string (KEDA's schema)."""
    metadata = {
        "queueURL": wiring.queue_url,
        "queueLength": str(spec.backlog_per_replica),
        "activationQueueLength": "0",
        "scaleOnInFlight": "true",
        "awsRegion": wiring.aws_region,
    }
    if wiring.aws_endpoint_url:
        metadata["awsEndpoint"] = wiring.aws_endpoint_url
    trigger: dict[str, Any] = {"type": SQS_TRIGGER, "metadata": metadata}
    if authentication is not None:
        trigger["authenticationRef"] = {
            "name": authentication.name,
            "kind": authentication.kind.value,
        }
    return trigger


def build_scaled_object(
    pool: PoolRef,
    spec: SenderPoolSpec,
    wiring: SenderWiring,
    *,
    authentication: KedaAuthentication | None = None,
) -> dict[str, Any]:
    """ScaledObject ``sp-<pool>`` scaling the pool's Deployment on its queue's depth.

    Only for a pool with ``spec.scaling.provider: keda`` (ValueError otherwise): a
    ScaledObject beside the operator's own scaler would have two scalers fight
    over the Deployment's replicas. The Deployment is then rendered without
    ``replicas`` (``build_sender_deployment``).
    """
    if spec.scaling.provider is not ScalingProvider.KEDA:
        raise ValueError(
            f"the pool is scaled by {spec.scaling.provider.value}, not keda: no ScaledObject"
        )
    name = sender_child_name(pool.name)
    window = spec.scaling.stabilization_window_seconds
    return {
        "apiVersion": KEDA_API_VERSION,
        "kind": "ScaledObject",
        "metadata": pool_object_meta(pool, name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicaCount": spec.replicas.min,
            "maxReplicaCount": spec.replicas.max,
            "cooldownPeriod": window,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": window}}
                }
            },
            "triggers": [sqs_trigger(spec, wiring, authentication)],
        },
    }
