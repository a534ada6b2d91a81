"""The API's Prometheus metrics: requests by route and status code, and their latency.

- ``wafleet_api_requests_total{method, route, code}``
- ``wafleet_api_request_duration_seconds{method, route}`` (histogram), from the
  request's arrival to its answer's last byte: an upload streamed to the bulk
  service counts the whole upload.

`route` is the matched route's template (`/v1/messages/{message_id}`), never
the path a client sent (ids would make a series per message), and
``unmatched`` for paths no route has. The registry is the API's own, served on
the metrics port by `sender.metrics.build_metrics_app` like every role's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
)

UNMATCHED: Final = "unmatched"
#: Up to 10 s: a send is a DynamoDB write and an SNS publish; the long tail is uploads.
BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
#: Methods counted as themselves; anything else (a client's made-up verb) is "other".
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(scope: Mapping[str, Any], routes: Sequence[Any] = ()) -> str:
    """The route template Starlette matched (it sets `scope["route"]`); for a request
    answered before routing (401, 413) the template of the route it would have reached;
    else ``unmatched``."""
    route = scope.get("route")
    if route is None:
        route = next((r for r in routes if _matches(r, scope)), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def _matches(route: Any, scope: Mapping[str, Any]) -> bool:
    from starlette.routing import Match

    match, _ = route.matches(dict(scope))
    return match is not Match.NONE


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


class ApiMetrics:
    """The families, in a registry of their own (one per app: tests build many)."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry or CollectorRegistry()
        if process and registry is None:
            for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                self.registry.register(standard)
        self.requests = Counter(
            "wafleet_api_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "wafleet_api_request_duration_seconds",
            "Seconds from a request's arrival to its answer's last byte.",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, code: int, seconds: float) -> None:
        method = method_label(method)
        self.requests.labels(method, route, str(code)).inc()
        self.duration.labels(method, route).observe(seconds)
