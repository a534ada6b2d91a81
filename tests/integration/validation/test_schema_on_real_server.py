"""Bad input refused by the real API server at create time, naming the field (issue 13, point 8).

Each rule added to the CRD for these inputs is sent good and bad objects on a
real kube-apiserver (CEL rules, the quantity library and patterns are the
server's, not an emulation), and every answer is compared with the pydantic
twin the operator and the CLI use: the two must agree on every row.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from tests.harness.kube import KubeApi
from tests.integration.conftest import Cluster, wait_for
from tests.integration.validation.conftest import use_real_crd
from wafleet_operator.api import WhatsAppAccount

LOCAL: dict[str, Any] = {"phoneNumber": "+14155550100", "engine": "local"}
KEY = {"name": "kek"}


def _post(kube_api: KubeApi, name: str, spec: dict[str, Any]) -> tuple[int, str]:
    """Create the account as `kubectl apply` would, but dry-run: validated, never stored."""
    with kube_api.http() as http:
        answer = http.post(
            f"/apis/wafleet.io/v1alpha1/namespaces/{kube_api.namespace}/whatsappaccounts",
            params={"dryRun": "All"},
            json={
                "apiVersion": "wafleet.io/v1alpha1",
                "kind": "WhatsAppAccount",
                "metadata": {"name": name},
                "spec": spec,
            },
        )
    return answer.status_code, answer.text


def _model_accepts(name: str, spec: dict[str, Any]) -> bool:
    try:
        WhatsAppAccount.model_validate({"metadata": {"name": name}, "spec": spec})
    except ValidationError:
        return False
    return True


def _snap(**fields: Any) -> dict[str, Any]:
    return {**LOCAL, "snapshot": {"bucket": "snaps", "encryptionKeySecret": KEY, **fields}}


def _resources(requests: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    return {**LOCAL, "resources": {"requests": requests, "limits": limits}}


# (case, account name, spec, field the refusal names, or None when accepted)
TABLE: list[tuple[str, str, dict[str, Any], str | None]] = [
    ("plain name", "sales-eu", LOCAL, None),
    ("name with a dot", "sales.eu", LOCAL, "metadata.name"),
    ("name starting with a digit", "2fa", LOCAL, None),
    ("longest name", "n" * 48, LOCAL, None),
    ("name one too long", "n" * 49, LOCAL, "metadata.name"),
    ("region us-east-1", "r1", _snap(region="us-east-1"), None),
    ("region eu-west-3", "r2", _snap(region="eu-west-3"), None),
    ("region minio", "r3", _snap(region="minio"), None),
    ("region garage", "r4", _snap(region="garage"), None),
    ("region with spaces", "r5", _snap(region="eu west 1"), "spec.snapshot.region"),
    ("region upper case", "r6", _snap(region="EU-WEST-1"), "spec.snapshot.region"),
    ("region only digits", "r7", _snap(region="123"), "spec.snapshot.region"),
    ("region trailing hyphen", "r8", _snap(region="eu-"), "spec.snapshot.region"),
    ("region 63 chars", "r9", _snap(region="a" * 63), None),
    ("region 64 chars", "r10", _snap(region="a" * 64), "spec.snapshot.region"),
    ("endpoint", "e1", _snap(endpoint="http://minio.storage:9000"), None),
    ("endpoint with a path and an @", "e2", _snap(endpoint="https://s3.example/a@b"), None),
    (
        "endpoint with user:pass@",
        "e3",
        _snap(endpoint="https://minio:s3cr3t-passw0rd@minio.storage:9000"),
        "spec.snapshot.endpoint",
    ),
    (
        "endpoint with user@",
        "e4",
        _snap(endpoint="http://admin@minio:9000"),
        "spec.snapshot.endpoint",
    ),
    ("keep 10 years", "k1", _snap(retention={"keepWithinHours": 87600}), None),
    (
        "keep 20,000,000 hours",
        "k2",
        _snap(retention={"keepWithinHours": 20_000_000}),
        "spec.snapshot.retention.keepWithinHours",
    ),
    (
        "keep 10^11 hours",
        "k3",
        _snap(retention={"keepWithinHours": 10**11}),
        "spec.snapshot.retention.keepWithinHours",
    ),
    ("requests below limits", "q1", _resources({"cpu": "500m"}, {"cpu": 2}), None),
    ("requests equal limits", "q2", _resources({"memory": "1Gi"}, {"memory": "1024Mi"}), None),
    ("only requests", "q3", _resources({"cpu": 8, "memory": "64Gi"}, {}), None),
    ("only limits", "q4", {**LOCAL, "resources": {"limits": {"cpu": "100m"}}}, None),
    (
        "cpu request above limit",
        "q5",
        _resources({"cpu": "2"}, {"cpu": "500m"}),
        "spec.resources.requests.cpu",
    ),
    (
        "integer cpu request above string limit",
        "q6",
        _resources({"cpu": 2}, {"cpu": "1500m"}),
        "spec.resources.requests.cpu",
    ),
    (
        "memory request above limit",
        "q7",
        _resources({"memory": "1Gi"}, {"memory": "512Mi"}),
        "spec.resources.requests.memory",
    ),
    (
        "memory in decimal units above binary limit",
        "q8",
        _resources({"memory": "1.1G"}, {"memory": "1Gi"}),
        "spec.resources.requests.memory",
    ),
    ("memory exponent below limit", "q9", _resources({"memory": "1e9"}, {"memory": "1Gi"}), None),
    (
        "negative cpu request",
        "q10",
        _resources({"cpu": "-1"}, {}),
        "spec.resources.requests.cpu",
    ),
    (
        "negative memory limit",
        "q11",
        _resources({}, {"memory": -5}),
        "spec.resources.limits.memory",
    ),
]


@pytest.mark.usefixtures("wafleet_crds")
@pytest.mark.parametrize(("case", "name", "spec", "field"), TABLE, ids=[r[0] for r in TABLE])
def test_the_api_server_refuses_bad_input_naming_the_field(
    kube_api: KubeApi, case: str, name: str, spec: dict[str, Any], field: str | None
) -> None:
    code, text = _post(kube_api, name, spec)
    if field is None:
        assert code == 201, text
    else:
        assert code == 422, text
        assert field in text, text
    # The operator's own check (the pydantic twin) agrees with the server.
    assert _model_accepts(name, spec) is (field is None), case


QUANTITIES: list[int | str] = [
    0,
    1,
    "999m",
    "1000m",
    "1001m",
    "1.5",
    "+1",
    "1.",
    ".5",
    "1500000u",
    "1000000000n",
    "1k",
    "1e3",
    "1E3",
    "1e-3",
    "1Ki",
    "1024",
    "1Mi",
    "1E",
    "1Ei",
]


@pytest.mark.usefixtures("wafleet_crds")
def test_the_quantity_twin_agrees_with_the_servers_quantity_library(kube_api: KubeApi) -> None:
    """Every pair of quantities, as request and limit: the server's CEL (Kubernetes' own
    quantity library) and the operator's pure comparison give the same answer."""
    from wafleet_operator.api.quantity import exceeds

    disagreements = []
    refused = 0
    for request in QUANTITIES:
        for limit in QUANTITIES:
            code, text = _post(kube_api, "q", _resources({"cpu": request}, {"cpu": limit}))
            assert code in (201, 422), text
            refused += code == 422
            if (code == 422) is not exceeds(request, limit):
                disagreements.append((request, limit, code))
    assert disagreements == []
    assert 0 < refused < len(QUANTITIES) ** 2


@pytest.mark.usefixtures("lax_crd")
def test_an_account_named_before_the_rule_can_still_be_changed_and_deleted(
    cluster: Cluster, kube_api: KubeApi
) -> None:
    """metadata.name cannot change, so its rules hold at create only: an account that an
    older CRD let in must not be locked (its finalizer removable, its status writable).
    The spec's rules ratchet: a field left as it was is not judged again."""
    old_spec = {
        **_snap(region="eu west 1", retention={"keepWithinHours": 20_000_000}),
        "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}},
    }
    cluster.create_account("sales.eu", old_spec, finalizers=["wafleet.io/finalizer"])
    use_real_crd(kube_api)
    assert _post(kube_api, "sales.eu2", LOCAL)[0] == 422  # new ones are refused
    cluster.patch_account("sales.eu", {"metadata": {"labels": {"team": "sales"}}})
    cluster.patch_account("sales.eu", {"spec": {"suspended": True}})
    with pytest.raises(ApiException) as refused:  # a field that changes is judged
        cluster.patch_account("sales.eu", {"spec": {"snapshot": {"region": "eu west 2"}}})
    assert refused.value.status == 422
    cluster.patch_account_status("sales.eu", {"status": {"phase": "Failed"}})
    cluster.custom.delete_namespaced_custom_object(
        "wafleet.io", "v1alpha1", cluster.namespace, "whatsappaccounts", "sales.eu"
    )
    cluster.patch_account("sales.eu", {"metadata": {"finalizers": None}})
    wait_for(lambda: not _exists(cluster, "sales.eu"), "the account deleted")


def _exists(cluster: Cluster, name: str) -> bool:
    try:
        cluster.account(name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True
