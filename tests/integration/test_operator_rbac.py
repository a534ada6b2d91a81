"""The chart grants the operator exactly what it uses, in both directions.

The real operator runs a full account lifecycle against the emulator, which
records every request; each becomes the (apiGroup, resource, verb) an
authorizer checks. Then:

- used within granted: every request the operator made is allowed by the roles the
  chart renders (where it was made: a namespaced request by the Role of its
  namespace or a ClusterRole, a cluster-scoped one by a ClusterRole only);
- granted within used plus NECESSARY_EXTRAS: the chart grants nothing else, except
  what the operator needs but a recording against the emulator cannot show,
  each entry saying why.

Run for both RBAC shapes the chart renders: cluster-wide (a ClusterRole) and
watching a namespace list (a Role per namespace plus the read-only discovery
ClusterRole); kopf itself behaves differently in the two (it lists and watches
namespaces only when it serves a list of them).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.harness.moto_server import AwsEndpoint
from tests.integration.conftest import REPO, Cluster, OperatorProcess, runner_report, wait_for
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
from wafleet_operator.config import OperatorSettings
from wafleet_operator.kube import kind_of
from wafleet_operator.specs import build_children
from wafleet_operator.specs.account import AccountRef
from wafleet_operator.specs.rbac import role_rules
from wafleet_operator.validation import parse_spec

HELM = REPO / ".tools" / "bin" / "helm"
OPERATOR_AGENTS = ("kopf/", "wafleet-operator/")

#: (apiGroup, resource, verb) as an authorizer sees a request.
Attributes = tuple[str, str, str]

CREATED_BY_APPLY = (
    "children are server-side applied: the emulator sees a PATCH, but a real API "
    "server also authorizes an apply that creates the object as create"
)
RUNNER_GRANT = (
    "granted to each runner's Role (specs/rbac.py role_rules); RBAC escalation "
    "prevention lets the operator create a Role only with permissions it holds itself"
)
OWNER_FINALIZERS = (
    "children's ownerReferences set blockOwnerDeletion, which the "
    "OwnerReferencesPermissionEnforcement admission plugin allows only to whoever may "
    "update the owner's finalizers; the emulator runs no such plugin"
)
PEERING = (
    "kopf peering, used only with more than one operator replica (WAFLEET_PEERING); "
    "the operator under test is one standalone replica"
)

#: What the chart may grant beyond what the recording shows, and why it is needed.
NECESSARY_EXTRAS: dict[Attributes, str] = {
    ("apps", "statefulsets", "create"): CREATED_BY_APPLY,
    ("", "services", "create"): CREATED_BY_APPLY,
    ("", "serviceaccounts", "create"): CREATED_BY_APPLY,
    ("rbac.authorization.k8s.io", "roles", "create"): CREATED_BY_APPLY,
    ("rbac.authorization.k8s.io", "rolebindings", "create"): CREATED_BY_APPLY,
    ("coordination.k8s.io", "leases", "create"): CREATED_BY_APPLY,
    # The runner claims its Lease with an update conditional on resourceVersion.
    ("coordination.k8s.io", "leases", "update"): RUNNER_GRANT,
    # The runner reads its own status before patching its report into it.
    ("wafleet.io", "whatsappaccounts/status", "get"): RUNNER_GRANT,
    ("wafleet.io", "whatsappaccounts/finalizers", "update"): OWNER_FINALIZERS,
    ("kopf.dev", "clusterkopfpeerings", "list"): PEERING,
    ("kopf.dev", "clusterkopfpeerings", "watch"): PEERING,
    ("kopf.dev", "clusterkopfpeerings", "patch"): PEERING,
    ("kopf.dev", "kopfpeerings", "list"): PEERING,
    ("kopf.dev", "kopfpeerings", "watch"): PEERING,
    ("kopf.dev", "kopfpeerings", "patch"): PEERING,
}


@dataclass(frozen=True)
class RenderedRole:
    """One Role (namespace set) or ClusterRole (namespace None) the chart renders."""

    namespace: str | None
    rules: list[dict[str, Any]]


def rendered_roles(*helm_args: str) -> list[RenderedRole]:
    out = subprocess.run(
        [str(HELM), "template", "wafleet", str(REPO / "charts" / "wafleet"), *helm_args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        RenderedRole(
            doc["metadata"].get("namespace") if doc["kind"] == "Role" else None,
            list(doc["rules"]),
        )
        for doc in yaml.safe_load_all(out)
        if doc and doc.get("kind") in ("Role", "ClusterRole")
    ]


def request_attributes(method: str, path: str, query: dict[str, str]) -> Attributes | None:
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


def request_namespace(path: str) -> str | None:
    """The namespace a request is made in; None for cluster-scoped and all-namespace requests."""
    parts = [p for p in path.split("/") if p]
    rest = parts[2:] if parts[:2] == ["api", "v1"] else parts[3:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        return rest[1]
    return None


def grants_of(rules: list[dict[str, Any]]) -> set[Attributes]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def allowed(roles: list[RenderedRole], namespace: str | None, attrs: Attributes) -> bool:
    """Whether a request in `namespace` (None: cluster scope) is allowed by any applicable role."""
    return any(
        attrs in grants_of(role.rules)
        for role in roles
        if role.namespace is None or role.namespace == namespace
    )


def run_lifecycle(cluster: Cluster, aws: AwsEndpoint) -> None:
    """Everything the operator does for one account: create, a runner report, suspend,
    drift, delete with deletionPolicy Delete."""
    make_secret(cluster, "kek", {"key": SECRET_KEY_VALUE})
    make_secret(
        cluster,
        "s3-creds",
        {"AWS_ACCESS_KEY_ID": ACCESS_KEY_VALUE, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_VALUE},
    )
    seed_snapshots(aws, "rbac")
    cluster.create_account("rbac", snapshot_spec(aws, "Delete"))
    wait_for(lambda: children_exist(cluster, "rbac"), "children")
    # A runner report is handled without applying children: the operator reads them.
    report = runner_report("rbac", "AwaitingLogin")
    cluster.patch_account_status("rbac", {"status": {"runner": report}})
    wait_for(lambda: phase(cluster, "rbac") == "AwaitingLogin", "the runner's report")
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


@pytest.mark.skipif(not HELM.exists(), reason="helm is not installed: run `make tools`")
@pytest.mark.parametrize(
    ("operator_env", "helm_args", "watches_namespaces"),
    [
        ({}, (), False),
        ({"WAFLEET_NAMESPACE": "default"}, ("--set", "watchNamespaces[0]=default"), True),
    ],
    ids=["cluster-wide", "one-namespace"],
)
def test_the_chart_grants_exactly_what_the_operator_uses(
    cluster: Cluster,
    kube_api: Any,
    aws: AwsEndpoint,
    operator_env: dict[str, str],
    helm_args: tuple[str, ...],
    watches_namespaces: bool,
    wafleet_operator: OperatorProcess,
) -> None:
    run_lifecycle(cluster, aws)
    # Watches are recorded when their stream ends: stop the operator first.
    wafleet_operator.process.terminate()
    wafleet_operator.process.wait(timeout=15)
    wait_for(
        lambda: any(
            r.query.get("watch") for r in kube_api.requests if r.user_agent.startswith("kopf/")
        ),
        "watch streams recorded",
    )
    requests = {
        (request_namespace(record.path), attrs)
        for record in kube_api.requests
        if record.user_agent.startswith(OPERATOR_AGENTS)
        and (attrs := request_attributes(record.method, record.path, record.query)) is not None
    }
    used = {attrs for _, attrs in requests}
    # The scenario really ran through the operator, down to its quieter paths.
    assert {
        ("apps", "statefulsets", "patch"),
        ("apps", "statefulsets", "get"),
        ("coordination.k8s.io", "leases", "get"),
        ("", "secrets", "watch"),
        ("wafleet.io", "whatsappaccounts", "get"),
    } <= used
    assert (("", "namespaces", "watch") in used) is watches_namespaces

    roles = rendered_roles(*helm_args)
    denied = sorted((ns or "", *attrs) for ns, attrs in requests if not allowed(roles, ns, attrs))
    assert denied == [], f"the chart does not allow: {denied}"

    # RBAC escalation prevention: a real API server lets the operator create the
    # runner's Role only when the operator itself holds every permission in it.
    runner_role = role_rules(AccountRef(name="rbac", namespace="default", uid="u", generation=1))
    not_held = sorted(a for a in grants_of(runner_role) if not allowed(roles, "default", a))
    assert not_held == [], f"the runner's Role grants what the operator does not hold: {not_held}"

    granted = set().union(*(grants_of(role.rules) for role in roles))
    unused = sorted(granted - used - NECESSARY_EXTRAS.keys())
    assert unused == [], f"the chart grants what the operator never uses: {unused}"


def test_every_necessary_extra_is_still_necessary() -> None:
    """The extras list cannot go stale: each entry is checked against the reason it gives."""
    account = AccountRef(name="a", namespace="ns", uid="u", generation=1)
    spec, _ = parse_spec({"phoneNumber": "+14155550100", "engine": "local"})
    assert spec is not None
    children = build_children(account, spec, OperatorSettings(runner_image="wafleet/runner:t"))
    applied = {
        (c["apiVersion"].rpartition("/")[0], kind_of(c["apiVersion"], c["kind"]).plural)
        for c in children
    }
    by_reason: dict[str, set[Attributes]] = {}
    for attrs, reason in NECESSARY_EXTRAS.items():
        by_reason.setdefault(reason, set()).add(attrs)
    # create, and only create, on exactly the kinds the operator applies.
    assert by_reason[CREATED_BY_APPLY] == {(g, r, "create") for g, r in applied}
    # What the runner's Role really grants.
    assert by_reason[RUNNER_GRANT] <= grants_of(role_rules(account))
    # Every child really blocks its owner's deletion.
    assert all(c["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] for c in children)
    assert by_reason[OWNER_FINALIZERS] == {("wafleet.io", "whatsappaccounts/finalizers", "update")}
    assert {g for g, _, _ in by_reason[PEERING]} == {"kopf.dev"}


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
        ("GET", "/api/v1/namespaces", {"watch": "true"}, ("", "namespaces", "watch")),
        ("GET", "/apis", {}, None),
        ("GET", "/version", {}, None),
    ],
)
def test_request_attributes(
    method: str, path: str, query: dict[str, str], expected: Attributes | None
) -> None:
    assert request_attributes(method, path, query) == expected


@pytest.mark.parametrize(
    ("path", "namespace"),
    [
        ("/api/v1/namespaces/default/secrets/kek", "default"),
        ("/api/v1/namespaces/d/events", "d"),
        ("/apis/wafleet.io/v1alpha1/namespaces/d/whatsappaccounts/a/status", "d"),
        ("/api/v1/secrets", None),
        ("/api/v1/namespaces", None),
        ("/api/v1/namespaces/default", None),
        ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", None),
    ],
)
def test_request_namespace(path: str, namespace: str | None) -> None:
    assert request_namespace(path) == namespace
