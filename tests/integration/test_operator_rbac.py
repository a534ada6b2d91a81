"""The chart grants the operator exactly what it uses: every request the real operator
made in a full account lifecycle is allowed by the ClusterRole the chart renders."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.harness.moto_server import AwsEndpoint
from tests.integration.conftest import REPO, Cluster, OperatorProcess, wait_for
from tests.integration.test_operator_account import (
    ACCESS_KEY_VALUE,
    SECRET_ACCESS_VALUE,
    SECRET_KEY_VALUE,
    children_exist,
    make_secret,
    no_children,
    phase,
    seed_snapshots,
    snapshot_spec,
)

HELM = REPO / ".tools" / "bin" / "helm"
OPERATOR_AGENTS = ("kopf/", "wafleet-operator/")


def rendered_cluster_role() -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(HELM), "template", "wafleet", str(REPO / "charts" / "wafleet")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    roles = [d for d in yaml.safe_load_all(out) if d and d.get("kind") == "ClusterRole"]
    assert len(roles) == 1, [r["metadata"]["name"] for r in roles]
    return list(roles[0]["rules"])


def request_attributes(
    method: str, path: str, query: dict[str, str]
) -> tuple[str, str, str] | None:
    """(apiGroup, resource[/subresource], verb) as the authorizer sees the request; None for discovery."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    resource, name, sub = (
        rest[0],
        rest[1] if len(rest) > 1 else None,
        rest[2] if len(rest) > 2 else None,
    )
    if method == "GET":
        verb = "get" if name else ("watch" if query.get("watch") in ("true", "1") else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
        if method == "DELETE" and not name:
            verb = "deletecollection"
    return group, f"{resource}/{sub}" if sub else resource, verb


def allowed(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(
        group in rule.get("apiGroups", [])
        and resource in rule.get("resources", [])
        and verb in rule.get("verbs", [])
        for rule in rules
    )


@pytest.mark.skipif(not HELM.exists(), reason="helm is not installed: run `make tools`")
def test_every_operator_request_is_allowed_by_the_chart(
    cluster: Cluster, kube_api: Any, aws: AwsEndpoint, wafleet_operator: OperatorProcess
) -> None:
    make_secret(cluster, "kek", {"key": SECRET_KEY_VALUE})
    make_secret(
        cluster,
        "s3-creds",
        {"AWS_ACCESS_KEY_ID": ACCESS_KEY_VALUE, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_VALUE},
    )
    seed_snapshots(aws, "rbac")
    cluster.create_account("rbac", snapshot_spec(aws, "Delete"))
    wait_for(lambda: children_exist(cluster, "rbac"), "children")
    cluster.patch_account("rbac", {"spec": {"suspended": True}})
    wait_for(lambda: phase(cluster, "rbac") == "Suspended", "suspended")
    cluster.core.delete_namespaced_service("waa-rbac", "default", _preload_content=False)
    wait_for(
        lambda: cluster.core.read_namespaced_service("waa-rbac", "default"), "service recreated"
    )
    cluster.custom.delete_namespaced_custom_object(
        "wafleet.io", "v1alpha1", "default", "whatsappaccounts", "rbac"
    )
    wait_for(lambda: no_children(cluster, "rbac"), "deleted")

    # Watches are recorded when their stream ends: stop the operator first.
    wafleet_operator.process.terminate()
    wafleet_operator.process.wait(timeout=15)
    wait_for(
        lambda: any(
            r.query.get("watch") for r in kube_api.requests if r.user_agent.startswith("kopf/")
        ),
        "watch streams recorded",
    )
    rules = rendered_cluster_role()
    used = {
        attrs
        for record in kube_api.requests
        if record.user_agent.startswith(OPERATOR_AGENTS)
        and (attrs := request_attributes(record.method, record.path, record.query)) is not None
    }
    assert ("apps", "statefulsets", "patch") in used  # the scenario really ran through the operator
    assert ("", "secrets", "watch") in used
    denied = sorted(a for a in used if not allowed(rules, *a))
    assert denied == [], f"the chart's ClusterRole does not allow: {denied}"


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/default/secrets/kek", {}, ("", "secrets", "get")),
        ("GET", "/api/v1/secrets", {"watch": "true"}, ("", "secrets", "watch")),
        ("GET", "/apis/apps/v1/statefulsets", {}, ("apps", "statefulsets", "list")),
        (
            "PATCH",
            "/apis/wafleet.io/v1alpha1/namespaces/d/whatsappaccounts/a/status",
            {},
            ("wafleet.io", "whatsappaccounts/status", "patch"),
        ),
        ("POST", "/api/v1/namespaces/d/events", {}, ("", "events", "create")),
        ("GET", "/apis", {}, None),
        ("GET", "/version", {}, None),
    ],
)
def test_request_attributes(
    method: str, path: str, query: dict[str, str], expected: tuple[str, str, str] | None
) -> None:
    assert request_attributes(method, path, query) == expected
