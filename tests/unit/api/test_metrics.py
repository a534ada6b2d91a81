"""Metric labels: route templates, never the paths clients send."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import generate_latest

from session_runner.api.metrics import ApiMetrics, method_label, route_label


@pytest.mark.parametrize(
    ("scope", "label"),
    [
        ({"route": SimpleNamespace(path="/v1/messages/{message_id}")}, "/v1/messages/{message_id}"),
        ({}, "unmatched"),
        ({"route": object()}, "unmatched"),
        ({"route": SimpleNamespace(path="")}, "unmatched"),
    ],
)
def test_route_label(scope: dict[str, Any], label: str) -> None:
    assert route_label(scope) == label


def test_a_request_answered_before_routing_is_labelled_by_the_route_it_would_reach() -> None:
    from starlette.routing import Route

    async def endpoint() -> None: ...

    routes = [Route("/v1/messages/{message_id}", endpoint, methods=["GET"])]
    scope = {"type": "http", "path": "/v1/messages/abc", "method": "GET"}
    assert route_label(scope, routes) == "/v1/messages/{message_id}"
    assert route_label({**scope, "path": "/v1/other"}, routes) == "unmatched"


@pytest.mark.parametrize(("method", "label"), [("GET", "GET"), ("POST", "POST"), ("BREW", "other")])
def test_method_label(method: str, label: str) -> None:
    assert method_label(method) == label


def test_observations_are_counted_and_timed() -> None:
    metrics = ApiMetrics(process=False)
    metrics.observe("POST", "/v1/messages", 202, 0.02)
    metrics.observe("POST", "/v1/messages", 202, 0.03)
    text = generate_latest(metrics.registry).decode()
    assert 'wafleet_api_requests_total{code="202",method="POST",route="/v1/messages"} 2.0' in text
    assert (
        'wafleet_api_request_duration_seconds_count{method="POST",route="/v1/messages"} 2.0' in text
    )
