"""Parts every wafleet container shares (the runner's and the senders'). Pure."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Final

from wafleet_operator.api import ResourceList
from wafleet_operator.api.common import ResourceRequirements


def _resource_list(resources: ResourceList | None) -> dict[str, str] | None:
    if resources is None:
        return None
    out = {
        name: str(value)
        for name, value in (("cpu", resources.cpu), ("memory", resources.memory))
        if value is not None
    }
    return out or None


def resource_requirements(
    resources: ResourceRequirements | None, defaults: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    """The spec's resources replace the defaults as a whole, never merged into them: a
    merge could pair a user's request with a default limit below it, which the API server
    refuses. Quantities as strings (the API server's own form), so a re-apply shows no diff."""
    if resources is None:
        return copy.deepcopy({kind: dict(values) for kind, values in defaults.items()})
    out: dict[str, Any] = {}
    requests = _resource_list(resources.requests)
    limits = _resource_list(resources.limits)
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def http_probe(path: str, period: int, failures: int, initial_delay: int = 0) -> dict[str, Any]:
    """An HTTP probe on the container's `health` port."""
    probe: dict[str, Any] = {
        "httpGet": {"path": path, "port": "health"},
        "periodSeconds": period,
        "failureThreshold": failures,
    }
    if initial_delay:
        probe["initialDelaySeconds"] = initial_delay
    return probe


#: Every wafleet container: no privilege escalation, a read-only root, no capabilities.
CONTAINER_SECURITY_CONTEXT: Final[Mapping[str, Any]] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def security_context() -> dict[str, Any]:
    return copy.deepcopy(dict(CONTAINER_SECURITY_CONTEXT))


def ports(health_port: int, metrics_port: int) -> list[dict[str, Any]]:
    """The probe and metrics ports every role listens on (the Service and probes name them)."""
    return [
        {"name": "health", "containerPort": health_port, "protocol": "TCP"},
        {"name": "metrics", "containerPort": metrics_port, "protocol": "TCP"},
    ]


def settings_env(
    values: Mapping[str, str],
    field_refs: Mapping[str, str],
    literal: Callable[[str], str],
) -> list[dict[str, Any]]:
    """A container's ``env`` from a settings object's ``as_env()``: the variables named in
    `field_refs` from the downward API (values only the pod knows), the rest literal
    (passed through `literal`, which escapes ``$``), sorted so the rendering is stable."""
    env: list[dict[str, Any]] = []
    for name, value in values.items():
        field_path = field_refs.get(name)
        if field_path is not None:
            env.append(
                {
                    "name": name,
                    "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": field_path}},
                }
            )
        else:
            env.append({"name": name, "value": literal(value)})
    return sorted(env, key=lambda item: str(item["name"]))


def secret_key_env(name: str, secret: str, key: str) -> dict[str, Any]:
    """Env var ``name`` from ``key`` of Secret ``secret``; not optional, so a Secret or key
    that went missing keeps the pod from starting instead of starting it without AWS keys."""
    return {
        "name": name,
        "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": False}},
    }
