"""charts/wafleet/templates/api.yaml: what `api.enabled` installs, validated offline.

Rendered with the values below: values.yaml's `api:` block (its defaults, written out),
enabled, validated by values.schema.json like any install. The bulk worker, which follows
api.enabled, is off here (tests/unit/test_chart.py tests it, and the two together). Needs
helm in .tools/bin (`make tools`); skipped with that reason otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import chart_check as cc
from session_runner.contract.api_settings import ApiSettings
from session_runner.contract.bulk_settings import BulkSettings

REPO = Path(__file__).resolve().parents[3]
HELM = REPO / ".tools/bin/helm"
CHART = REPO / "charts/wafleet"

#: charts/wafleet/values.yaml's `api:` block (its defaults), enabled; and the bulk service's
#: bucket, which the API shares with the bulk worker (`bulk.bucket`), the worker off.
API_VALUES: dict[str, Any] = {
    "bulk": {"bucket": "wafleet-bulk-uploads", "worker": {"enabled": False}},
    "api": {
        "enabled": True,
        "namespace": "",
        "keysSecret": {"name": "wafleet-api-keys", "key": "keys.json"},
        "outboundTopic": "wafleet-outbound",
        "ledgerTable": "wafleet-outbound-ledger",
        "requestsTable": "",
        "replicaCount": 2,
        "port": 8080,
        "metricsPort": 9090,
        "maxBodyBytes": 65536,
        "maxUploadBytes": 268435456,
        "routingCacheSeconds": 5,
        "logLevel": "info",
        "service": {"port": 80},
        "serviceAccount": {"create": True, "name": "", "annotations": {}},
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "256Mi"},
        },
        "nodeSelector": {},
        "tolerations": [],
        "affinity": {},
        "priorityClassName": "",
        "podAnnotations": {},
        "podLabels": {},
    },
}


@pytest.fixture(scope="module")
def helm() -> Path:
    if not (HELM.is_file() and HELM.stat().st_mode & 0o111):
        pytest.skip(f"helm is not installed at {HELM.relative_to(REPO)}: run `make tools`")
    return HELM


def render(helm: Path, tmp_path: Path, values: dict[str, Any], *sets: str) -> list[cc.Manifest]:
    path = tmp_path / "api-values.yaml"
    path.write_text(yaml.safe_dump(values))
    args = ["template", cc.RELEASE, str(CHART), "--namespace", cc.NAMESPACE]
    args += ["--values", str(path)]
    for item in sets:
        args += ["--set", item]
    proc = cc.run_helm(helm, *args)
    assert proc.returncode == 0, proc.stderr
    return cc.parse_manifests(proc.stdout)


def api_objects(objects: Sequence[cc.Manifest]) -> list[cc.Manifest]:
    return [o for o in objects if o.labels.get("app.kubernetes.io/component") == "api"]


def container(objects: Sequence[cc.Manifest]) -> dict[str, Any]:
    (deployment,) = [o for o in api_objects(objects) if o.kind == "Deployment"]
    (found,) = cc.pod_template(deployment)["spec"]["containers"]
    return dict(found)


def test_api_renders_and_validates_against_kubernetes_schemas(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, tmp_path, API_VALUES)
    mine = api_objects(objects)
    assert sorted(o.kind for o in mine) == [
        "Deployment",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    problems: list[str] = []
    for obj in mine:
        problems += cc.validate_builtin(obj, cc.kube_versions_for(CHART))
    problems += cc.check_labels(objects)
    problems += cc.check_workloads_and_services(objects)
    problems += cc.check_rbac(objects)
    assert problems == []


def test_api_is_off_by_default(helm: Path, tmp_path: Path) -> None:
    assert api_objects(render(helm, tmp_path, {})) == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"api": {"enabled": True}}, "api.keysSecret.name is required when api.enabled is true"),
        (
            {"api": {"enabled": True, "keysSecret": {"name": "k"}}},
            "bulk.bucket is required when api.enabled is true",
        ),
        (
            {**API_VALUES, "api": {**API_VALUES["api"], "serviceAccount": {"create": False}}},
            "api.serviceAccount.name is required when api.serviceAccount.create is false",
        ),
        ({**API_VALUES, "api": {**API_VALUES["api"], "metricsPort": 8080}}, "must differ"),
    ],
)
def test_missing_values_are_named(
    helm: Path, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(values))
    proc = cc.run_helm(helm, "template", "x", str(CHART), "--values", str(path))
    assert proc.returncode != 0
    assert message in proc.stderr


def test_the_role_reads_accounts_pools_and_leases_and_patches_accounts_only(
    helm: Path, tmp_path: Path
) -> None:
    objects = render(
        helm, tmp_path, {**API_VALUES, "api": {**API_VALUES["api"], "namespace": "shop"}}
    )
    (role,) = [o for o in api_objects(objects) if o.kind == "Role"]
    (binding,) = [o for o in api_objects(objects) if o.kind == "RoleBinding"]
    assert role.namespace == binding.namespace == "shop"
    assert cc.rule_grants(role.body["rules"]) == {
        ("wafleet.io", "whatsappaccounts"): {"get", "list", "patch"},
        ("wafleet.io", "senderpools"): {"get", "list"},
        ("coordination.k8s.io", "leases"): {"get", "list"},
    }
    assert binding.body["subjects"] == [
        {"kind": "ServiceAccount", "name": "wafleet-api", "namespace": cc.NAMESPACE}
    ]


def test_the_keys_secret_is_mounted_as_a_file_not_put_in_env(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, tmp_path, API_VALUES)
    found = container(objects)
    (deployment,) = [o for o in api_objects(objects) if o.kind == "Deployment"]
    volumes = {v["name"]: v for v in cc.pod_template(deployment)["spec"]["volumes"]}
    assert volumes["api-keys"]["secret"]["secretName"] == "wafleet-api-keys"
    mounts = {m["name"]: m for m in found["volumeMounts"]}
    assert mounts["api-keys"] == {
        "name": "api-keys",
        "mountPath": "/etc/wafleet/api-keys",
        "readOnly": True,
    }
    assert not any("valueFrom" in e for e in found["env"])
    assert found["args"] == ["api"]
    assert {p["name"] for p in found["ports"]} == {"http", "metrics"}
    (service,) = [o for o in api_objects(objects) if o.kind == "Service"]
    assert [p["targetPort"] for p in service.body["spec"]["ports"]] == ["http"]  # no metrics


def test_the_env_loads_into_the_api_settings(
    helm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = {**API_VALUES, "aws": {"region": "eu-west-1", "endpointUrl": "http://moto:5000"}}
    env = {e["name"]: e["value"] for e in container(render(helm, tmp_path, values))["env"]}
    bulk_env = {name for name in env if name.startswith("WAFLEET_BULK_")}
    assert set(env) - bulk_env <= {
        f"WAFLEET_API_{name.upper()}" for name in ApiSettings.model_fields
    }
    assert bulk_env <= {f"WAFLEET_BULK_{name.upper()}" for name in BulkSettings.model_fields}
    for name in list(os.environ):
        if name.startswith("WAFLEET_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = ApiSettings()
    assert settings.namespace == cc.NAMESPACE  # the release's, when api.namespace is empty
    assert settings.keys_file == Path("/etc/wafleet/api-keys/keys.json")
    assert settings.requests_table == settings.ledger_table == "wafleet-outbound-ledger"
    assert (settings.aws_region, settings.aws_endpoint_url) == ("eu-west-1", "http://moto:5000")
    assert (settings.port, settings.metrics_port) == (8080, 9090)
    assert (settings.max_body_bytes, settings.max_upload_bytes) == (65536, 268435456)
    bulk = BulkSettings(topic_arn="arn:aws:sns:eu-west-1:1:wafleet-outbound")  # main adds it
    assert (bulk.bucket, bulk.table) == ("wafleet-bulk-uploads", "wafleet-bulk-jobs")


def test_metrics_port_zero_serves_and_names_none(
    helm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """api.metricsPort 0: the API serves no /metrics (its settings read 0) and the pod names
    no `metrics` port; the API's own port stays."""
    found = container(
        render(helm, tmp_path, {**API_VALUES, "api": {**API_VALUES["api"], "metricsPort": 0}})
    )
    for name in list(os.environ):
        if name.startswith("WAFLEET_"):
            monkeypatch.delenv(name)
    for entry in found["env"]:
        monkeypatch.setenv(entry["name"], entry["value"])
    assert ApiSettings().metrics_port == 0
    assert [p["name"] for p in found["ports"]] == ["http"]
