"""The CRDs as a real API server judges them: accepted, Established, defaults and CEL rules agreeing.

The emulator we had accepted CRDs that every real kube-apiserver rejects (a
CEL rule evaluated against an object default of `{}` fails with "no such
key"); these tests send crds/ and the chart's CRD templates to a real one.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.harness.control_plane import ControlPlane
from tests.harness.kube import REPO, KubeApi, apply_crds, crd_documents
from wafleet_operator.api import resource_info
from wafleet_operator.api.sender_pool import SenderPoolSpec
from wafleet_operator.api.webhook_subscription import WebhookSubscriptionSpec
from wafleet_operator.api.whatsapp_account import WhatsAppAccountSpec

HELM = REPO / ".tools" / "bin" / "helm"


def chart_crd_documents() -> list[dict[str, Any]]:
    """The chart's CRD templates, rendered by the real helm."""
    rendered = subprocess.run(
        [str(HELM), "template", "wafleet", str(REPO / "charts" / "wafleet")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        doc
        for doc in yaml.safe_load_all(rendered)
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]


def test_every_crd_in_crds_is_accepted_and_established(control_plane: ControlPlane) -> None:
    documents = crd_documents()
    assert {d["metadata"]["name"] for d in documents} == {
        "whatsappaccounts.wafleet.io",
        "senderpools.wafleet.io",
        "webhooksubscriptions.wafleet.io",
    }
    apply_crds(control_plane, documents)


@pytest.mark.skipif(not HELM.exists(), reason="helm is installed by `make tools`")
def test_the_charts_crd_templates_are_accepted_and_established(
    control_plane: ControlPlane,
) -> None:
    documents = chart_crd_documents()
    assert len(documents) == 3
    apply_crds(control_plane, documents)


def _create(kube_api: KubeApi, plural: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    with kube_api.http() as http:
        answer = http.post(
            f"/apis/wafleet.io/v1alpha1/namespaces/{kube_api.namespace}/{plural}",
            json={
                "apiVersion": "wafleet.io/v1alpha1",
                "kind": kind,
                "metadata": {"name": "defaults"},
                "spec": spec,
            },
        )
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["spec"])


@pytest.mark.usefixtures("wafleet_crds")
@pytest.mark.parametrize(
    ("plural", "kind", "spec", "model"),
    [
        (
            "whatsappaccounts",
            "WhatsAppAccount",
            {"phoneNumber": "+15550100001", "engine": "local"},
            WhatsAppAccountSpec,
        ),
        (
            "senderpools",
            "SenderPool",
            {
                "vendor": "twilio",
                "target": "twilio-main",
                "phoneNumbers": ["+15550100002"],
                "credentialsSecret": {"name": "twilio"},
            },
            SenderPoolSpec,
        ),
        (
            "webhooksubscriptions",
            "WebhookSubscription",
            {
                "url": "https://hooks.example.com/wa",
                "eventTypes": ["message.received"],
                "signingSecret": {"name": "hook"},
            },
            WebhookSubscriptionSpec,
        ),
    ],
)
def test_the_server_fills_in_the_same_defaults_the_models_do(
    kube_api: KubeApi, plural: str, kind: str, spec: dict[str, Any], model: Any
) -> None:
    """An object with the nested objects left out comes back as pydantic would build it."""
    stored = _create(kube_api, plural, kind, spec)
    expected = model.model_validate(spec).model_dump(by_alias=True, mode="json", exclude_none=True)
    for key, value in expected.items():
        if isinstance(value, dict):
            assert stored[key] == value, key


@pytest.mark.usefixtures("wafleet_crds")
def test_a_cel_rule_still_rejects_a_bad_lease_naming_the_field(kube_api: KubeApi) -> None:
    with kube_api.http() as http:
        answer = http.post(
            f"/apis/wafleet.io/v1alpha1/namespaces/{kube_api.namespace}/whatsappaccounts",
            json={
                "apiVersion": "wafleet.io/v1alpha1",
                "kind": "WhatsAppAccount",
                "metadata": {"name": "bad-lease"},
                "spec": {
                    "phoneNumber": "+15550100003",
                    "engine": "local",
                    "lease": {"durationSeconds": 10, "renewDeadlineSeconds": 12},
                },
            },
        )
    assert answer.status_code == 422
    assert "spec.lease" in answer.text
    assert "renewDeadlineSeconds must be less than durationSeconds" in answer.text


def test_no_object_default_of_empty_braces_sits_under_cel_rules() -> None:
    """Guard: a CRD whose default is `{}` for an object with CEL rules is the defect itself."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("x-kubernetes-validations") and node.get("default") == {}:
                raise AssertionError(
                    f"object default {{}} under CEL rules: {node.get('description')}"
                )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for document in crd_documents():
        walk(document)


SAMPLES = REPO / "samples"


def _dry_run_create(kube_api: KubeApi, document: dict[str, Any]) -> tuple[int, str]:
    plural = resource_info(document["kind"]).plural
    with kube_api.http() as http:
        answer = http.post(
            f"/apis/wafleet.io/v1alpha1/namespaces/{kube_api.namespace}/{plural}",
            params={"dryRun": "All", "fieldValidation": "Strict"},  # as kubectl apply
            json=document,
        )
    return answer.status_code, answer.text


@pytest.mark.usefixtures("wafleet_crds")
def test_the_samples_are_judged_by_the_real_server_as_by_the_offline_check(
    kube_api: KubeApi,
) -> None:
    """Every valid sample is accepted; every invalid one refused, naming its expect-error
    field (the offline check in tests/unit/test_crds.py says the same without a server)."""
    for path in sorted((SAMPLES / "valid").glob("*.yaml")):
        code, text = _dry_run_create(kube_api, yaml.safe_load(path.read_text(encoding="utf-8")))
        assert code == 201, f"{path.name}: {text}"
    for path in sorted((SAMPLES / "invalid").glob("*.yaml")):
        source = path.read_text(encoding="utf-8")
        field = source.splitlines()[0].removeprefix("# expect-error: ")
        document = yaml.safe_load(source)
        code, text = _dry_run_create(kube_api, document)
        assert code in (400, 422), f"{path.name} was accepted"  # 400: strict decoding
        assert field in text, f"{path.name}: {text}"
