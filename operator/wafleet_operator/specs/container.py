"""Parts every wafleet container shares (the runner's and the senders'). Pure."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

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
