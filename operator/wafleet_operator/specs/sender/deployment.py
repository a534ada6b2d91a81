"""The Deployment that runs a pool's senders (``wafleet-runner sender``)."""

from __future__ import annotations

from typing import Any, Final

from wafleet_operator.api.sender_pool import ScalingProvider, SenderPoolSpec
from wafleet_operator.config import OperatorSettings
from wafleet_operator.specs.container import (
    http_probe,
    ports,
    resource_requirements,
    security_context,
)
from wafleet_operator.specs.labels import sender_labels, sender_selector_labels
from wafleet_operator.specs.naming import sender_child_name
from wafleet_operator.specs.runner_config import HEALTH_PORT, METRICS_PORT
from wafleet_operator.specs.statefulset import NONROOT_ID, SECRET_FILE_MODE
from wafleet_operator.validation import image_problem

from .pool import PoolRef, pool_object_meta
from .settings import CREDENTIALS_DIR, SenderWiring, build_sender_env

CONTAINER_NAME = "sender"

#: SIGTERM to SIGKILL. On SIGTERM a sender stops receiving and finishes the sends it has
#: started: each is bounded by the vendor transport's 10 s deadline, then one ledger
#: write and one queue delete. A send cut off anyway is not lost: its message becomes
#: visible again after the queue's visibility timeout and the ledger decides what
#: another replica may do with it.
TERMINATION_GRACE_SECONDS: Final = 30

#: Resources when the spec sets none: a sender is an asyncio loop with aiohttp and
#: boto3 (about 70 MB resident), holding at most ``concurrency`` messages of at most
#: 4 KiB. No CPU limit, for the runner's reason: CFS throttling would stall the long
#: polls and the rate limiter's timing for whole periods; the request already
#: guarantees the share. Memory keeps its limit (a leak is killed, not the node).
DEFAULT_RESOURCES: Final = {
    "requests": {"cpu": "50m", "memory": "128Mi"},
    "limits": {"memory": "256Mi"},
}


class SenderImageNotAllowedError(ValueError):
    """``spec.image`` names an image the operator's allow-list does not allow."""


def sender_image_problem(spec: SenderPoolSpec, settings: OperatorSettings) -> str | None:
    """Why ``spec.image`` may not run, or None: the account's rule, and for the same
    reason (the pods get the vendor's credentials and the pool's AWS identity),
    so the operator can report it at ``spec.image`` before it applies anything."""
    return image_problem(spec.image, settings.allowed_runner_images)


def sender_image(spec: SenderPoolSpec, settings: OperatorSettings) -> str:
    """The sender's image: ``spec.image`` if the allow-list allows it, else the runner
    image the operator deploys. Raises :class:`SenderImageNotAllowedError` for an image the
    allow-list refuses, so a pool whose problem went unreported still never runs it."""
    problem = sender_image_problem(spec, settings)
    if problem is not None:
        raise SenderImageNotAllowedError(problem)
    return spec.image or settings.runner_image


def sender_resources(spec: SenderPoolSpec) -> dict[str, Any]:
    """The container's resources: ``spec.resources`` replaces the defaults as a whole (a
    merge could pair a user's request with a default limit below it, which the API server
    refuses); quantities as strings, the API server's own form, so a re-apply shows no diff."""
    return resource_requirements(spec.resources, DEFAULT_RESOURCES)


def _volumes(spec: SenderPoolSpec) -> list[dict[str, Any]]:
    """Scratch /tmp (the root filesystem is read-only) and, for a vendor with
    credentials, the whole credentials Secret: the adapter reads the keys it knows,
    and a rotation is a Secret edit the kubelet carries into the files."""
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    if spec.credentials_secret is not None:
        volumes.append(
            {
                "name": "vendor-credentials",
                "secret": {
                    "secretName": spec.credentials_secret.name,
                    "defaultMode": SECRET_FILE_MODE,
                },
            }
        )
    return volumes


def _volume_mounts(spec: SenderPoolSpec) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if spec.credentials_secret is not None:
        mounts.append(
            {"name": "vendor-credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True}
        )
    return mounts


def build_sender_container(
    pool: PoolRef, spec: SenderPoolSpec, settings: OperatorSettings, wiring: SenderWiring
) -> dict[str, Any]:
    """The ``sender`` container, probed like the runner: readiness (``/readyz``) is what
    a rollout waits for before it retires an old replica, and what the disruption budget
    counts as healthy; liveness (``/healthz``) only asks whether the loop still answers."""
    return {
        "name": CONTAINER_NAME,
        "image": sender_image(spec, settings),
        "imagePullPolicy": settings.runner_image_pull_policy,
        "args": ["sender"],
        "env": build_sender_env(pool, spec, wiring),
        "ports": ports(HEALTH_PORT, METRICS_PORT),
        "readinessProbe": http_probe("/readyz", period=5, failures=2),
        "livenessProbe": http_probe("/healthz", period=10, failures=3, initial_delay=10),
        "resources": sender_resources(spec),
        "securityContext": security_context(),
        "volumeMounts": _volume_mounts(spec),
    }


def build_sender_deployment(
    pool: PoolRef,
    spec: SenderPoolSpec,
    settings: OperatorSettings,
    wiring: SenderWiring,
    *,
    replicas: int | None = None,
) -> dict[str, Any]:
    """Deployment ``sp-<pool>``: the pool's interchangeable senders.

    A Deployment, not a StatefulSet: a sender holds no state of its own (the queue
    holds the work, the ledger what was sent), so any replica may start beside any
    other. A rollout surges new pods before old ones go (``maxUnavailable: 0``), so the
    pool keeps draining its queue while its image or settings change; the extra
    consumers are harmless, as the pool-wide rate limiter and the ledger hold however
    many replicas run.

    ``replicas``: with ``spec.scaling.provider: operator``, the operator's own scale
    decision (``wafleet_operator.scaling``), clamped into ``spec.replicas``; None
    starts the pool at ``spec.replicas.min``. With ``keda`` the field is left out
    whatever is passed: the HPA that KEDA drives owns it through the scale
    subresource, and a server-side apply that named it would take it back on every
    reconcile.

    The pod template holds nothing the scaler changes, so scaling never restarts a
    sender; a spec change that reaches the pods (rate limit, concurrency, image)
    rolls them.

    No API token in the pods (``automountServiceAccountToken: false`` here and on the
    ServiceAccount): a sender never calls the Kubernetes API (``service_account``).
    """
    name = sender_child_name(pool.name)
    pod_spec: dict[str, Any] = {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NONROOT_ID,
            "runAsGroup": NONROOT_ID,
            "fsGroup": NONROOT_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [build_sender_container(pool, spec, settings, wiring)],
        "volumes": _volumes(spec),
    }
    deployment_spec: dict[str, Any] = {}
    if spec.scaling.provider is ScalingProvider.OPERATOR:
        wanted = spec.replicas.min if replicas is None else replicas
        deployment_spec["replicas"] = min(max(wanted, spec.replicas.min), spec.replicas.max)
    deployment_spec.update(
        {
            "selector": {"matchLabels": sender_selector_labels(pool.name)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": sender_labels(pool.name)},
                "spec": pod_spec,
            },
        }
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": pool_object_meta(pool, name),
        "spec": deployment_spec,
    }
