"""The headless Service that governs the account's StatefulSet."""

from __future__ import annotations

from typing import Any

from .account import AccountRef, object_meta
from .labels import selector_labels
from .naming import child_name
from .runner_config import HEALTH_PORT, METRICS_PORT


def build_service(account: AccountRef) -> dict[str, Any]:
    """Headless Service ``waa-<name>``, the StatefulSet's ``serviceName``.

    Headless (``clusterIP: None``) because there is exactly one pod and nothing
    should load-balance to it: it gives the pod its stable DNS name
    (``waa-<name>-0.waa-<name>``) and lets Prometheus discover the metrics port.
    ``publishNotReadyAddresses`` keeps that name resolvable while the runner is
    not Ready (restoring, awaiting a QR login, standing by for the Lease),
    which is exactly when someone wants to look at it.
    ``protocol: TCP`` is spelled out because it is part of the ports list's
    merge key under server-side apply.
    """
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(account, child_name(account.name)),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector_labels(account.name),
            "ports": [
                {"name": "health", "port": HEALTH_PORT, "targetPort": "health", "protocol": "TCP"},
                {
                    "name": "metrics",
                    "port": METRICS_PORT,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                },
            ],
        },
    }
