"""The API as the chart deploys it: a ServiceAccount with exactly the Role api.yaml renders
(installed as rendered, `ChartRbac`), its TokenRequest token, on the real API server.

Every endpoint that reads or writes Kubernetes works with that Role, and the Role grants
nothing more (SubjectAccessReviews of what the API must never do).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from session_runner.api.app import build_app
from tests.harness.kube import KubeApi
from tests.integration.api.bulk_standin import MemoryBulkService
from tests.integration.api.conftest import Keys, Objects, Outbound, api_context, bearer
from tests.integration.api.test_accounts import awaiting_login
from tests.integration.conftest import HELM, ChartRbac, Cluster

TO = "+14155550123"


async def test_every_endpoint_works_with_the_charts_role_and_nothing_more(
    kube_api: KubeApi,
    cluster: Cluster,
    keys: Keys,
    objects: Objects,
    outbound: Outbound,
    tmp_path: Path,
) -> None:
    if not HELM.exists():
        pytest.skip("helm is not installed: run `make tools`")
    rbac = ChartRbac.install(
        kube_api,
        tmp_path,
        "--show-only",
        "templates/api.yaml",
        "--set",
        "api.enabled=true",
        "--set",
        "api.keysSecret.name=wafleet-api-keys",
        "--set",
        f"api.namespace={kube_api.namespace}",
        "--set",
        "bulk.bucket=wafleet-bulk",
        # The worker (it follows api.enabled) is not what this test installs.
        "--set",
        "bulk.worker.enabled=false",
    )
    assert rbac.service_account == "wafleet-api"
    objects.pool("alpha-pool", "alpha")
    objects.pool("alice-session", "alice-target", vendor="session", account="alice")
    objects.account("alice", wired_pool="alice-session", status=awaiting_login())
    context = api_context(kube_api, outbound, keys, MemoryBulkService(), kubeconfig=rbac.kubeconfig)
    app = build_app(context)
    admin = bearer(keys.admin)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api"
        ) as http:
            for method, path, body, status in (
                ("GET", "/v1/accounts", None, 200),
                ("GET", "/v1/accounts/alice", None, 200),
                ("GET", "/v1/accounts/alice/qr", None, 200),
                ("POST", "/v1/accounts/alice/snapshot", None, 202),
                ("POST", "/v1/messages", {"target": "alpha", "to": TO, "text": "x"}, 202),
                ("POST", "/v1/messages", {"account": "alice", "to": TO, "text": "x"}, 202),
                ("GET", "/v1/accounts/ghost", None, 404),  # a 404, not a 403 from RBAC
            ):
                answer = await http.request(method, path, json=body, headers=admin)
                assert answer.status_code == status, (method, path, answer.text)
    finally:
        await context.kube.close()
    for group, resource, verb in (
        ("", "secrets", "get"),
        ("", "secrets", "list"),
        ("wafleet.io", "whatsappaccounts/status", "patch"),
        ("wafleet.io", "whatsappaccounts", "delete"),
        ("wafleet.io", "whatsappaccounts", "watch"),
        ("wafleet.io", "senderpools", "patch"),
        ("coordination.k8s.io", "leases", "update"),
    ):
        assert not rbac.allows(group, resource, verb), (resource, verb)
