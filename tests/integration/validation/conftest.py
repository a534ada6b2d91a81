"""The CRD as an API server that enforces none of its rules would hold it (`lax_crd`).

Accounts that got past an older CRD exist in real clusters; these tests put
such an account in front of the operator, and check that the new rules do not
lock it in (it can still be updated and deleted).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.kube import KubeApi, apply_crds, crd_documents
from tests.integration.conftest import Cluster, wait_for

LOCAL: dict[str, Any] = {"phoneNumber": "+14155550100", "engine": "local"}
SNAP = {"bucket": "snaps", "encryptionKeySecret": {"name": "kek"}}


def _lax(node: Any) -> Any:
    """The schema without patterns, ranges or CEL rules (types and defaults kept)."""
    if isinstance(node, dict):
        dropped = {"pattern", "minimum", "maximum", "maxLength", "x-kubernetes-validations"}
        return {k: _lax(v) for k, v in node.items() if k not in dropped}
    if isinstance(node, list):
        return [_lax(v) for v in node]
    return node


def _server_refuses(kube_api: KubeApi, name: str) -> bool:
    with kube_api.http() as http:
        answer = http.post(
            f"/apis/wafleet.io/v1alpha1/namespaces/{kube_api.namespace}/whatsappaccounts",
            params={"dryRun": "All"},
            json={
                "apiVersion": "wafleet.io/v1alpha1",
                "kind": "WhatsAppAccount",
                "metadata": {"name": name},
                "spec": {**LOCAL, "snapshot": {**SNAP, "region": "eu west 1"}},
            },
        )
    return answer.status_code == 422


def _whatsapp_account_crd() -> dict[str, Any]:
    (real,) = [d for d in crd_documents() if d["spec"]["names"]["kind"] == "WhatsAppAccount"]
    return real


def use_real_crd(kube_api: KubeApi) -> None:
    """Put the generated CRD back, and wait until the server enforces it."""
    apply_crds(kube_api.plane, [_whatsapp_account_crd()])
    wait_for(lambda: _server_refuses(kube_api, "probe"), "the real schema in force")


@pytest.fixture
def lax_crd(cluster: Cluster, kube_api: KubeApi) -> Iterator[None]:
    """The WhatsAppAccount CRD with its patterns, ranges and CEL rules taken out, as an API
    server that did not enforce them would hold it; the real CRD is put back afterwards."""
    lax = copy.deepcopy(_whatsapp_account_crd())
    lax["spec"] = _lax(lax["spec"])
    apply_crds(kube_api.plane, [lax])
    wait_for(lambda: not _server_refuses(kube_api, "probe"), "the lax schema in force")
    try:
        yield
    finally:
        use_real_crd(kube_api)
