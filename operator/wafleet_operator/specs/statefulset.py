"""The StatefulSet that runs the account's one session pod."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from wafleet_operator.api import Engine, WhatsAppAccountSpec
from wafleet_operator.config import OperatorSettings

from .account import AccountRef, object_meta
from .container import http_probe, ports, resource_requirements, security_context
from .labels import labels, selector_labels
from .naming import child_name
from .runner_config import (
    HEALTH_PORT,
    METRICS_PORT,
    SNAPSHOT_KEY_MOUNT_PATH,
    STATE_MOUNT_PATH,
    TERMINATION_GRACE_SECONDS,
    build_runner_env,
)

CONTAINER_NAME = "runner"
#: The distroless "nonroot" user; the runner image's files are readable by it.
NONROOT_ID = 65532
#: Owner-read only: the key file is readable through fsGroup (the kubelet adds
#: the group read bit and gives the file to the pod's fsGroup), by nobody else.
SECRET_FILE_MODE = 0o400
#: Chromium keeps its renderer memory in /dev/shm; a container's default
#: 64 MiB makes tabs crash. Memory-backed, so it counts against the memory limit.
SHM_SIZE_LIMIT = "256Mi"

#: Per-engine resources when the spec sets none. Memory limits only, no CPU
#: limits: CFS throttling of a bursty client (a browser rendering a chat list,
#: a snapshot compressing chunks) stalls Lease renewal and the WhatsApp
#: keep-alives for whole periods and costs more than it protects; the CPU
#: request already guarantees each pod its share. Memory is not compressible,
#: so its limit stays (a leaking Chromium is killed, not the node's neighbours).
DEFAULT_RESOURCES: Final[Mapping[Engine, Mapping[str, Mapping[str, str]]]] = {
    Engine.BROWSER: {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"memory": "1536Mi"},
    },
    Engine.PROTOCOL: {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "384Mi"}},
    Engine.LOCAL: {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
}


def container_resources(spec: WhatsAppAccountSpec) -> dict[str, Any]:
    """The runner container's resources.

    ``spec.resources`` replaces the engine's defaults as a whole rather than
    being merged into them: a merge could combine a user's request with a
    default limit below it, which the API server rejects. Quantities are
    rendered as strings (the API server's own form) so a re-apply shows no diff.
    """
    return resource_requirements(spec.resources, DEFAULT_RESOURCES[spec.engine])


def _volumes(spec: WhatsAppAccountSpec) -> list[dict[str, Any]]:
    """The pod's volumes: all scratch, except the keys the snapshots are sealed with.

    The root filesystem is read-only, so everything the runner writes goes to
    an emptyDir: the session (restored from the store on start) and /tmp.
    """
    volumes: list[dict[str, Any]] = [
        {"name": "session", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
    ]
    if spec.engine is Engine.BROWSER:
        volumes.append(
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE_LIMIT}}
        )
    if spec.snapshot is not None:
        # The whole Secret, not one item: after a rotation the retired keys
        # (`<key>.1`, `<key>.2` …) must sit beside the current one, or the
        # snapshots sealed with them could no longer be read (load_keyring).
        volumes.append(
            {
                "name": "snapshot-key",
                "secret": {
                    "secretName": spec.snapshot.encryption_key_secret.name,
                    "defaultMode": SECRET_FILE_MODE,
                },
            }
        )
    return volumes


def _volume_mounts(spec: WhatsAppAccountSpec) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"name": "session", "mountPath": STATE_MOUNT_PATH},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if spec.engine is Engine.BROWSER:
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    if spec.snapshot is not None:
        mounts.append(
            {"name": "snapshot-key", "mountPath": SNAPSHOT_KEY_MOUNT_PATH, "readOnly": True}
        )
    return mounts


def build_container(
    account: AccountRef, spec: WhatsAppAccountSpec, settings: OperatorSettings
) -> dict[str, Any]:
    """The ``runner`` container.

    Readiness (``/readyz``) tracks whether the session is usable and only
    takes the pod out of endpoints; liveness (``/healthz``) only asks whether
    the runner's loop still answers, so a slow restore or a QR login never gets
    the pod killed. No startup probe: the health server starts before the
    restore, so liveness answers from the first seconds on.
    """
    return {
        "name": CONTAINER_NAME,
        "image": spec.image or settings.runner_image,
        "imagePullPolicy": settings.runner_image_pull_policy,
        "args": ["session"],
        "env": build_runner_env(account, spec),
        "ports": ports(HEALTH_PORT, METRICS_PORT),
        "readinessProbe": http_probe("/readyz", period=5, failures=2),
        "livenessProbe": http_probe("/healthz", period=10, failures=3, initial_delay=10),
        "resources": container_resources(spec),
        "securityContext": security_context(),
        "volumeMounts": _volume_mounts(spec),
    }


def build_statefulset(
    account: AccountRef, spec: WhatsAppAccountSpec, settings: OperatorSettings
) -> dict[str, Any]:
    """StatefulSet ``waa-<name>``: the first line of "one runner per account".

    A StatefulSet, not a Deployment, because it never starts a replacement pod
    before the old one is gone (a Deployment's rollout surges a second pod);
    the Lease fences what the StatefulSet cannot see (a partitioned node).
    ``replicas`` is 0 while the account is suspended: the runner then takes its
    final snapshot and the pod goes away, keeping every other child.

    No volumeClaimTemplates: the session lives in the snapshot store. A
    PersistentVolume would pin the pod to one zone (a zone outage would strand
    the account) and would hold state the fencing token knows nothing about: a
    stale runner could keep writing to it, and a new pod would start from
    whatever it found instead of the latest fenced snapshot. An emptyDir
    restored from the store keeps the snapshot the single source of truth.

    The pod template carries nothing derived from the account's generation,
    only what the pod needs, so a spec change that does not concern the pod
    (``deletionPolicy``; ``suspended``, which only sets replicas) never
    restarts the session.
    """
    name = child_name(account.name)
    pod_spec: dict[str, Any] = {
        "serviceAccountName": name,
        "automountServiceAccountToken": True,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS[spec.engine],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NONROOT_ID,
            "runAsGroup": NONROOT_ID,
            "fsGroup": NONROOT_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [build_container(account, spec, settings)],
        "volumes": _volumes(spec),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_meta(account, name),
        "spec": {
            "replicas": 0 if spec.suspended else 1,
            "serviceName": name,
            # Parallel, not OrderedReady: with OrderedReady the controller stops at a pod
            # that is not Ready and never rolls it (kubernetes/kubernetes#67250), so the
            # spec edit that would fix a failing account (a key, adoptFromUid) would never
            # reach its pod. With one replica there is no order to keep, and a pod name is
            # never run twice either way; the Lease fences the session.
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": selector_labels(account.name)},
            "template": {
                "metadata": {"labels": labels(account.name)},
                "spec": pod_spec,
            },
        },
    }
