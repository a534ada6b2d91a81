"""The Helm chart: scripts/chart_check.py's checks, plus what the default install must look like.

Needs helm in .tools/bin (`make tools`); skipped with that reason otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import chart_check as cc

REPO = Path(__file__).resolve().parents[2]
HELM = REPO / ".tools/bin/helm"
CHART = REPO / "charts/wafleet"
CRDS_DIR = REPO / "crds"
FIXTURES = REPO / "tests/fixtures/chart"
CHART_YAML: dict[str, Any] = yaml.safe_load((CHART / "Chart.yaml").read_text())
APP_VERSION = str(CHART_YAML["appVersion"])


@pytest.fixture(scope="module")
def helm() -> Path:
    if not (HELM.is_file() and HELM.stat().st_mode & 0o111):
        pytest.skip(f"helm is not installed at {HELM.relative_to(REPO)}: run `make tools`")
    return HELM


@pytest.fixture(scope="module")
def kube_versions() -> list[str]:
    return cc.kube_versions_for(CHART)


@pytest.fixture(scope="module")
def repo_crds() -> list[cc.Manifest]:
    return cc.load_crd_files(cc.repo_crd_files(CRDS_DIR))


@pytest.fixture(scope="module")
def default_objects(helm: Path) -> list[cc.Manifest]:
    return cc.render(helm, CHART)


@pytest.fixture(scope="module")
def namespaced_objects(helm: Path) -> list[cc.Manifest]:
    return cc.render(helm, CHART, CHART / "ci/namespaced-values.yaml")


def only(objects: Sequence[cc.Manifest], kind: str) -> cc.Manifest:
    found = [o for o in objects if o.kind == kind]
    assert len(found) == 1, f"expected one {kind}, got {[o.ref for o in found]}"
    return found[0]


def operator_container(objects: Sequence[cc.Manifest]) -> dict[str, Any]:
    pod = cc.pod_template(only(objects, "Deployment"))
    containers = pod["spec"]["containers"]
    assert [c["name"] for c in containers] == ["operator"]
    return dict(containers[0])


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


# ---------------------------------------------------------------- chart_check, case by case


@pytest.mark.parametrize(
    "values",
    [None, *cc.ci_values_files(CHART)],
    ids=lambda v: "default" if v is None else v.name,
)
def test_values_case_lints_renders_and_validates(
    helm: Path, values: Path | None, kube_versions: list[str], repo_crds: list[cc.Manifest]
) -> None:
    report = cc.check_case(helm, CHART, values, kube_versions=kube_versions, repo_crds=repo_crds)
    assert report.ok, report.summary() + "\n" + "\n".join(report.problems)
    assert report.objects


def test_the_argo_cd_example_renders_and_validates(
    helm: Path, tmp_path: Path, kube_versions: list[str], repo_crds: list[cc.Manifest]
) -> None:
    """docs/argocd-application.yaml points at this chart with values the chart accepts."""
    app = yaml.safe_load((REPO / "docs/argocd-application.yaml").read_text())
    source = app["spec"]["source"]
    assert (REPO / source["path"]).resolve() == CHART.resolve()
    values = tmp_path / "argocd-values.yaml"
    values.write_text(yaml.safe_dump(source["helm"]["valuesObject"]))
    report = cc.check_case(helm, CHART, values, kube_versions=kube_versions, repo_crds=repo_crds)
    assert report.ok, report.summary() + "\n" + "\n".join(report.problems)
    crds = [o for o in report.objects if o.kind == "CustomResourceDefinition"]
    wafleet_crds = [o for o in crds if o.body["spec"]["group"] == "wafleet.io"]
    assert len(wafleet_crds) == 3
    for crd in wafleet_crds:
        # Argo CD renders with `helm template` and ignores Helm's keep policy.
        options = crd.body["metadata"]["annotations"]["argocd.argoproj.io/sync-options"]
        assert set(options.split(",")) == {"Prune=false", "Delete=false"}


def test_there_are_non_default_ci_values() -> None:
    assert len(cc.ci_values_files(CHART)) >= 2


@pytest.mark.parametrize("bad", cc.bad_values_files(FIXTURES), ids=lambda p: p.name)
def test_bad_values_are_rejected_naming_the_key(helm: Path, bad: Path) -> None:
    assert cc.check_bad_values(helm, CHART, bad) == []


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("logLevel=verbose", "logLevel"),
        ("metrics.port=80", "port"),
        ("watchNamespaces[0]=Not_A_Namespace", "watchNamespaces"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("metrics.serviceMonitor.intervall=1m", "intervall"),
        ("podSecurityContext.runAsUserr=0", "runAsUserr"),
    ],
)
def test_schema_rejects_a_bad_setting(helm: Path, setting: str, key: str) -> None:
    proc = cc.run_helm(helm, "template", "x", str(CHART), "--set", setting)
    assert proc.returncode != 0, f"--set {setting} was accepted"
    assert key in proc.stderr


def test_a_string_image_tag_that_looks_like_a_number_must_be_quoted(helm: Path) -> None:
    proc = cc.run_helm(helm, "template", "x", str(CHART), "--set-json", "image.tag=1.2")
    assert proc.returncode != 0
    assert "tag" in proc.stderr


def test_an_existing_service_account_needs_a_name(helm: Path) -> None:
    proc = cc.run_helm(helm, "template", "x", str(CHART), "--set", "serviceAccount.create=false")
    assert proc.returncode != 0
    assert "serviceAccount.name is required" in proc.stderr


def test_service_monitor_needs_metrics(helm: Path) -> None:
    proc = cc.run_helm(
        helm, "template", "x", str(CHART),
        "--set", "metrics.enabled=false", "--set", "metrics.serviceMonitor.enabled=true",
    )  # fmt: skip
    assert proc.returncode != 0
    assert "metrics.serviceMonitor.enabled needs metrics.enabled" in proc.stderr


# ---------------------------------------------------------------- the default install


def test_default_pod_is_locked_down(default_objects: list[cc.Manifest]) -> None:
    pod = cc.pod_template(only(default_objects, "Deployment"))["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = operator_container(default_objects)
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    # Non-root is the pod's setting, inherited by the container, not repeated there.
    assert "runAsNonRoot" not in sc
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in sc
    # The read-only root needs a writable /tmp.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert pod["serviceAccountName"] == only(default_objects, "ServiceAccount").name
    assert not pod.get("hostNetwork")
    assert not pod.get("hostPID")


def test_default_deployment_runs_the_operator(default_objects: list[cc.Manifest]) -> None:
    deployment = only(default_objects, "Deployment")
    assert deployment.namespace == cc.NAMESPACE
    assert deployment.body["spec"]["replicas"] == 1
    assert deployment.body["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment.labels["app.kubernetes.io/name"] == "wafleet"  # what the e2e test selects
    container = operator_container(default_objects)
    assert container["image"] == f"wafleet/operator:{APP_VERSION}"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["command"] == ["wafleet-operator"]
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    env = env_of(container)
    assert env["WAFLEET_NAMESPACE"] == ""  # all namespaces
    assert env["WAFLEET_RUNNER_IMAGE"] == f"wafleet/runner:{APP_VERSION}"
    assert env["WAFLEET_RUNNER_IMAGE_PULL_POLICY"] == "IfNotPresent"
    assert env["WAFLEET_LOG_LEVEL"] == "info"
    assert env["WAFLEET_LOG_FORMAT"] == "json"
    assert env["WAFLEET_METRICS_PORT"] == "8080"
    assert env["WAFLEET_HEALTH_PORT"] == "8081"
    assert "WAFLEET_PEERING" not in env  # one replica: no peering
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


@pytest.mark.parametrize(
    "values",
    [None, *cc.ci_values_files(CHART)],
    ids=lambda v: "default" if v is None else v.name,
)
def test_rendered_env_loads_into_the_operator_settings(
    helm: Path, values: Path | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every WAFLEET_* variable the chart sets is an OperatorSettings field, with a valid value."""
    config = pytest.importorskip("wafleet_operator.config")
    env = env_of(operator_container(cc.render(helm, CHART, values)))
    ours = {k: v for k, v in env.items() if k.startswith("WAFLEET_")}
    fields = set(config.OperatorSettings.model_fields)
    assert {k.removeprefix("WAFLEET_").lower() for k in ours} <= fields
    for name in list(os.environ):
        if name.startswith("WAFLEET_"):
            monkeypatch.delenv(name)
    for name, value in ours.items():
        monkeypatch.setenv(name, value)
    settings = config.OperatorSettings()
    assert settings.runner_image == ours["WAFLEET_RUNNER_IMAGE"]
    assert ",".join(settings.namespaces) == ours["WAFLEET_NAMESPACE"]
    metrics_on = values is None or "minimal" not in values.name
    assert (settings.metrics_port != 0) is metrics_on


def test_default_metrics_service_without_service_monitor(
    default_objects: list[cc.Manifest],
) -> None:
    service = only(default_objects, "Service")
    assert service.body["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert not [o for o in default_objects if o.kind in ("ServiceMonitor", "PodDisruptionBudget")]


def test_default_rbac_is_cluster_wide_and_least_privilege(
    default_objects: list[cc.Manifest],
) -> None:
    role = only(default_objects, "ClusterRole")
    binding = only(default_objects, "ClusterRoleBinding")
    assert not [o for o in default_objects if o.kind in ("Role", "RoleBinding")]
    assert binding.body["roleRef"]["name"] == role.name
    grants = cc.rule_grants(role.body["rules"])
    # Secrets are read by name only, never listed or watched; the runner pod only looked up.
    assert grants[("", "secrets")] == {"get"}
    assert grants[("", "pods")] == {"get"}
    assert grants[("wafleet.io", "whatsappaccounts/finalizers")] == {"update"}
    assert grants[("kopf.dev", "clusterkopfpeerings")] == {"list", "watch", "patch"}
    assert grants[("apiextensions.k8s.io", "customresourcedefinitions")] == {"list", "watch"}
    # Cluster-wide, kopf watches every namespace at once and never lists namespaces.
    assert ("", "namespaces") not in grants
    runner_grants, _ = cc.load_runner_grants()
    assert runner_grants
    for (group, resource), verbs in runner_grants.items():
        assert verbs <= grants[(group, resource)]
    assert ("", "pods/exec") not in grants


@pytest.mark.parametrize("case", ["default", "namespaced"])
def test_rbac_has_no_wildcards(
    case: str, default_objects: list[cc.Manifest], namespaced_objects: list[cc.Manifest]
) -> None:
    objects = default_objects if case == "default" else namespaced_objects
    roles = [o for o in objects if o.kind in ("Role", "ClusterRole")]
    assert roles
    for role in roles:
        for rule in role.body["rules"]:
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], f"{role.ref}: {rule}"
            assert not cc.ESCALATING_VERBS & set(rule["verbs"]), f"{role.ref}: {rule}"
    assert cc.check_rbac(objects) == []


@pytest.mark.parametrize("verbs", [["get", "list"], ["get", "watch"], ["get", "create"]])
def test_check_rbac_refuses_secrets_beyond_get(
    verbs: list[str], default_objects: list[cc.Manifest]
) -> None:
    role = only(default_objects, "ClusterRole")
    rules = [
        {**rule, "verbs": verbs} if "secrets" in rule["resources"] else rule
        for rule in role.body["rules"]
    ]
    edited = cc.Manifest(role.source, {**role.body, "rules": rules})
    problems = cc.check_rbac([edited if o is role else o for o in default_objects])
    assert any("secrets may only be read by name" in p for p in problems)


def test_namespaced_install_uses_a_role_per_watched_namespace(
    namespaced_objects: list[cc.Manifest],
) -> None:
    watched = {"whatsapp-prod", "whatsapp-staging"}
    roles = [o for o in namespaced_objects if o.kind == "Role"]
    bindings = [o for o in namespaced_objects if o.kind == "RoleBinding"]
    assert {r.namespace for r in roles} == watched
    assert {b.namespace for b in bindings} == watched
    # The only cluster-scoped role is the read-only discovery one.
    (cluster_role,) = [o for o in namespaced_objects if o.kind == "ClusterRole"]
    assert all(set(r["verbs"]) == {"list", "watch"} for r in cluster_role.body["rules"])
    env = env_of(operator_container(namespaced_objects))
    assert env["WAFLEET_NAMESPACE"] == "whatsapp-prod,whatsapp-staging"
    assert env["WAFLEET_PEERING"] == "wafleet"
    peerings = [o for o in namespaced_objects if o.kind == "KopfPeering"]
    assert {p.namespace for p in peerings} == watched
    assert only(namespaced_objects, "PodDisruptionBudget").body["spec"]["maxUnavailable"] == 1
    assert only(namespaced_objects, "ServiceMonitor").labels["release"] == "kube-prometheus-stack"


def test_two_replicas_watching_everything_use_a_cluster_peering(helm: Path) -> None:
    objects = cc.render(helm, CHART, set_values=["replicaCount=2"])
    assert only(objects, "ClusterKopfPeering").name == "wafleet"
    assert env_of(operator_container(objects))["WAFLEET_PEERING"] == "wafleet"
    deployment = only(objects, "Deployment")
    assert deployment.body["spec"]["strategy"]["type"] == "RollingUpdate"
    validator = cc.CustomResourceValidator([o for o in objects if o.kind == cc.CRD_KIND])
    assert validator.validate(only(objects, "ClusterKopfPeering")) == []


# ---------------------------------------------------------------- CRDs


def test_chart_crds_are_kept_on_uninstall(default_objects: list[cc.Manifest]) -> None:
    crds = [o for o in default_objects if o.kind == cc.CRD_KIND and o.from_templates]
    if not crds:
        pytest.skip("no CRD templates in charts/wafleet/templates/crds yet (`make crds`)")
    for crd in crds:
        assert crd.metadata.get("annotations", {}).get(cc.KEEP_ANNOTATION) == "keep", crd.ref
        assert crd.labels["app.kubernetes.io/part-of"] == "wafleet", crd.ref


def test_project_crds_are_rendered_and_match_crds_dir(
    default_objects: list[cc.Manifest], repo_crds: list[cc.Manifest]
) -> None:
    rendered = {o.name for o in default_objects if o.kind == cc.CRD_KIND and o.from_templates}
    if not rendered and not repo_crds:
        pytest.skip("no CRDs generated yet (`make crds`)")
    assert rendered == {
        f"{plural}.wafleet.io"
        for plural in ("whatsappaccounts", "senderpools", "webhooksubscriptions")
    }
    assert cc.check_crds(default_objects, repo_crds) == []


def test_crds_create_false_renders_no_crd(helm: Path) -> None:
    objects = cc.render(helm, CHART, set_values=["crds.create=false"], include_crds=False)
    assert [o.ref for o in objects if o.kind == cc.CRD_KIND] == []
    # --include-crds adds only kopf's peering CRDs from the chart's crds/ folder.
    with_static = cc.render(helm, CHART, set_values=["crds.create=false"])
    groups = {o.body["spec"]["group"] for o in with_static if o.kind == cc.CRD_KIND}
    assert groups == {"kopf.dev"}


def test_a_project_custom_resource_is_validated_strictly(repo_crds: list[cc.Manifest]) -> None:
    validator = cc.CustomResourceValidator(repo_crds)
    assert validator.problems == []
    kind = ("wafleet.io", "WhatsAppAccount")
    if kind not in validator.kinds:
        pytest.skip("crds/ has no WhatsAppAccount CRD yet (`make crds`)")
    (version,) = validator.kinds[kind].validators
    account = cc.Manifest(
        source="test",
        body={
            "apiVersion": f"wafleet.io/{version}",
            "kind": "WhatsAppAccount",
            "metadata": {"name": "demo", "namespace": "default"},
            "spec": {"phoneNumber": "+15551234567", "notAField": True},
        },
    )
    problems = validator.validate(account)
    assert any("notAField" in p for p in problems), problems
    cluster_scoped = cc.Manifest(
        source="test", body={**account.body, "metadata": {"name": "demo"}, "spec": {}}
    )
    assert any("without metadata.namespace" in p for p in validator.validate(cluster_scoped))
    wrong_version = cc.Manifest(source="test", body={**account.body, "apiVersion": "wafleet.io/v9"})
    assert any("not served" in p for p in validator.validate(wrong_version))
    # The same validator the CRDs come from: CEL rules apply too (jsonschema alone skipped them).
    bad_lease = cc.Manifest(
        source="test",
        body={
            **account.body,
            "spec": {
                "phoneNumber": "+15551234567",
                "lease": {"durationSeconds": 5, "renewDeadlineSeconds": 10},
            },
        },
    )
    assert any("renewDeadlineSeconds" in p for p in validator.validate(bad_lease))


SYNTHETIC_CRD = cc.Manifest(
    source="test",
    body={
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [
                {"name": "v0", "served": False, "storage": False},
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {
                                        "size": {"type": "integer", "minimum": 1},
                                        "port": {"x-kubernetes-int-or-string": True},
                                        "note": {"type": "string", "nullable": True},
                                        "extra": {
                                            "type": "object",
                                            "x-kubernetes-preserve-unknown-fields": True,
                                        },
                                        "labels": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                        "mode": {
                                            "type": "string",
                                            "enum": ["a", "b"],
                                            "nullable": True,
                                        },
                                    },
                                }
                            },
                        }
                    },
                },
            ],
        },
    },
)


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"size": 1}, None),
        ({"size": 1, "port": 80, "note": None, "mode": None}, None),
        ({"size": 1, "port": "http", "extra": {"anything": {"goes": 1}}}, None),
        ({"size": 1, "labels": {"a": "b"}}, None),
        ({}, "'size' is a required property"),
        ({"size": "1"}, "is not of type 'integer'"),
        ({"size": 0}, "less than the minimum"),
        ({"size": 1, "port": 1.5}, "spec.port"),
        ({"size": 1, "typo": 1}, "'typo' was unexpected"),
        ({"size": 1, "labels": {"a": 1}}, "spec.labels.a"),
        ({"size": 1, "mode": "c"}, "is not one of"),
    ],
)
def test_strict_schema_follows_kubernetes_semantics(
    spec: dict[str, Any], error: str | None
) -> None:
    validator = cc.CustomResourceValidator([SYNTHETIC_CRD])
    widget = cc.Manifest(
        source="test",
        body={
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "labels": {"x": "y"}, "annotations": {"k": "v"}},
            "spec": spec,
        },
    )
    problems = validator.validate(widget)
    if error is None:
        assert problems == []
    else:
        assert any(error in p for p in problems), problems
    served_only = cc.Manifest(source="test", body={**widget.body, "apiVersion": "example.com/v0"})
    assert any("not served" in p for p in validator.validate(served_only))


def test_parse_manifests_keeps_each_documents_source() -> None:
    text = (
        "---\n# Source: wafleet/crds/a.yaml\nkind: A\n---\nkind: B\n"
        "---\n# Source: wafleet/templates/c.yaml\nkind: C\n---\n"
    )
    parsed = [(m.source, m.kind) for m in cc.parse_manifests(text)]
    assert parsed == [
        ("wafleet/crds/a.yaml", "A"),
        ("wafleet/crds/a.yaml", "B"),
        ("wafleet/templates/c.yaml", "C"),
    ]


def test_main_passes_on_the_chart(helm: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cc.main(["--helm", str(helm), "--chart", str(CHART)]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") == 1 + len(cc.ci_values_files(CHART)) + len(
        cc.bad_values_files(FIXTURES)
    )


# ---------------------------------------------------------------- the webhook ingest

INGEST_BASE_URL = "https://hooks.example.com/wafleet"
INGEST_VALUES: dict[str, Any] = {
    "aws": {"region": "eu-west-1", "endpointUrl": "http://localstack.tools:4566"},
    "ingest": {
        "enabled": True,
        "publicBaseUrl": INGEST_BASE_URL,
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "tls": [{"secretName": "hooks-tls", "hosts": ["hooks.example.com"]}],
        },
    },
}


def ingest_objects(objects: Sequence[cc.Manifest]) -> list[cc.Manifest]:
    return [o for o in objects if o.labels.get("app.kubernetes.io/component") == "ingest"]


def ingest_container(objects: Sequence[cc.Manifest]) -> dict[str, Any]:
    (deployment,) = [o for o in ingest_objects(objects) if o.kind == "Deployment"]
    (container,) = cc.pod_template(deployment)["spec"]["containers"]
    return dict(container)


@pytest.mark.parametrize(
    "extra", [{}, {"watchNamespaces": ["whatsapp-prod", "whatsapp-staging"]}],
    ids=["cluster-wide", "namespaced"],
)  # fmt: skip
def test_ingest_enabled_lints_renders_and_validates(
    helm: Path,
    tmp_path: Path,
    extra: dict[str, Any],
    kube_versions: list[str],
    repo_crds: list[cc.Manifest],
) -> None:
    values = tmp_path / "ingest-values.yaml"
    values.write_text(yaml.safe_dump({**INGEST_VALUES, **extra}))
    report = cc.check_case(helm, CHART, values, kube_versions=kube_versions, repo_crds=repo_crds)
    assert report.ok, report.summary() + "\n" + "\n".join(report.problems)
    kinds = sorted(o.kind for o in ingest_objects(report.objects))
    rbac = ["Role", "RoleBinding"] * 2 if extra else ["ClusterRole", "ClusterRoleBinding"]
    expected = ["Deployment", "Ingress", "Service", "ServiceAccount", *rbac]
    assert kinds == sorted(expected)


def test_ingest_is_off_by_default(default_objects: list[cc.Manifest]) -> None:
    assert ingest_objects(default_objects) == []


def test_ingest_needs_a_public_base_url(helm: Path) -> None:
    proc = cc.run_helm(helm, "template", "x", str(CHART), "--set", "ingest.enabled=true")
    assert proc.returncode != 0
    assert "ingest.publicBaseUrl is required when ingest.enabled is true" in proc.stderr


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("ingest.publicBaseUrl=hooks.example.com", "publicBaseUrl"),
        ("ingest.eventsTopic=not a topic", "eventsTopic"),
        ("ingest.port=80", "port"),
        ("ingest.secretsCacheSeconds=-1", "secretsCacheSeconds"),
        ("ingest.ingress.hots=x", "hots"),
    ],
)
def test_schema_rejects_a_bad_ingest_setting(helm: Path, setting: str, key: str) -> None:
    proc = cc.run_helm(helm, "template", "x", str(CHART), "--set", setting)
    assert proc.returncode != 0, f"--set {setting} was accepted"
    assert key in proc.stderr


def test_ingest_pod_runs_the_runner_locked_down_like_the_operator(
    helm: Path, tmp_path: Path
) -> None:
    values = tmp_path / "ingest-values.yaml"
    values.write_text(yaml.safe_dump(INGEST_VALUES))
    objects = cc.render(helm, CHART, values)
    container = ingest_container(objects)
    operator = operator_container([o for o in objects if o not in ingest_objects(objects)])
    assert container["image"] == f"wafleet/runner:{APP_VERSION}"
    assert container["args"] == ["ingest"]
    assert "command" not in container  # the image's entrypoint, wafleet-runner
    assert container["securityContext"] == operator["securityContext"]
    (deployment,) = [o for o in ingest_objects(objects) if o.kind == "Deployment"]
    pod = cc.pod_template(deployment)["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["serviceAccountName"] == "wafleet-ingest"
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8080,
        "health": 8081,
    }
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    (service,) = [o for o in ingest_objects(objects) if o.kind == "Service"]
    assert service.body["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    (ingress,) = [o for o in ingest_objects(objects) if o.kind == "Ingress"]
    spec = ingress.body["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["rules"][0]["host"] == "hooks.example.com"  # from publicBaseUrl
    assert spec["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == service.name
    assert spec["tls"] == [{"secretName": "hooks-tls", "hosts": ["hooks.example.com"]}]


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster-wide", "namespaced"])
def test_ingest_env_loads_into_its_settings(
    helm: Path, tmp_path: Path, namespaced: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every WAFLEET_INGEST_* variable the chart sets is an IngestSettings field, valid."""
    from session_runner.contract.ingest_settings import IngestSettings

    watched = ["whatsapp-prod", "whatsapp-staging"] if namespaced else []
    values = tmp_path / "ingest-values.yaml"
    values.write_text(yaml.safe_dump({**INGEST_VALUES, "watchNamespaces": watched}))
    env = env_of(ingest_container(cc.render(helm, CHART, values)))
    assert set(env) <= {f"WAFLEET_INGEST_{name.upper()}" for name in IngestSettings.model_fields}
    for name in list(os.environ):
        if name.startswith("WAFLEET_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = IngestSettings()
    assert settings.public_base_url == INGEST_BASE_URL
    assert settings.events_topic_arn == "wafleet-events"  # a name, resolved at start-up
    assert settings.secrets_source == "kubernetes"
    assert settings.secrets_cache_seconds == 30
    assert settings.ledger_table == "wafleet-outbound-ledger"
    assert (settings.aws_region, settings.aws_endpoint_url) == (
        "eu-west-1",
        "http://localstack.tools:4566",
    )
    assert (settings.port, settings.health_port) == (8080, 8081)
    assert settings.namespace_list == tuple(watched)


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster-wide", "namespaced"])
def test_ingest_rbac_is_get_on_pools_and_secrets_only(
    helm: Path, tmp_path: Path, namespaced: bool
) -> None:
    watched = ["whatsapp-prod", "whatsapp-staging"] if namespaced else []
    values = tmp_path / "ingest-values.yaml"
    values.write_text(yaml.safe_dump({**INGEST_VALUES, "watchNamespaces": watched}))
    objects = ingest_objects(cc.render(helm, CHART, values))
    roles = [o for o in objects if o.kind in ("Role", "ClusterRole")]
    bindings = [o for o in objects if o.kind in ("RoleBinding", "ClusterRoleBinding")]
    assert {r.kind for r in roles} == {"Role" if namespaced else "ClusterRole"}
    assert sorted(r.namespace or "" for r in roles) == (watched or [""])
    for role in roles:
        assert cc.rule_grants(role.body["rules"]) == {
            ("wafleet.io", "senderpools"): {"get"},
            ("", "secrets"): {"get"},
        }
    for binding in bindings:
        assert binding.body["subjects"] == [
            {"kind": "ServiceAccount", "name": "wafleet-ingest", "namespace": cc.NAMESPACE}
        ]
    assert cc.check_rbac(objects) == []


# ---------------------------------------------------------------- the webhook dispatcher

DISPATCHER_VALUES: dict[str, Any] = {
    "aws": {"region": "eu-west-1", "endpointUrl": "http://localstack.tools:4566"},
    "dispatcher": {"enabled": True, "allowedNetworks": ["10.0.0.0/8", "fd00::/8"]},
}


def dispatcher_objects(objects: Sequence[cc.Manifest]) -> list[cc.Manifest]:
    return [o for o in objects if o.labels.get("app.kubernetes.io/component") == "dispatcher"]


@pytest.mark.parametrize(
    "extra", [{}, {"watchNamespaces": ["whatsapp-prod", "whatsapp-staging"]}],
    ids=["cluster-wide", "namespaced"],
)  # fmt: skip
def test_dispatcher_enabled_lints_renders_and_validates(
    helm: Path,
    tmp_path: Path,
    extra: dict[str, Any],
    kube_versions: list[str],
    repo_crds: list[cc.Manifest],
) -> None:
    values = tmp_path / "dispatcher-values.yaml"
    values.write_text(yaml.safe_dump({**DISPATCHER_VALUES, **extra}))
    report = cc.check_case(helm, CHART, values, kube_versions=kube_versions, repo_crds=repo_crds)
    assert report.ok, report.summary() + "\n" + "\n".join(report.problems)
    kinds = sorted(o.kind for o in dispatcher_objects(report.objects))
    rbac = ["Role", "RoleBinding"] * 2 if extra else ["ClusterRole", "ClusterRoleBinding"]
    assert kinds == sorted(["Deployment", "ServiceAccount", *rbac])


def test_dispatcher_is_off_by_default(default_objects: list[cc.Manifest]) -> None:
    assert dispatcher_objects(default_objects) == []


def test_dispatcher_pod_runs_the_runner_with_its_settings(helm: Path, tmp_path: Path) -> None:
    values = tmp_path / "dispatcher-values.yaml"
    values.write_text(yaml.safe_dump({**DISPATCHER_VALUES, "watchNamespaces": ["shop"]}))
    objects = cc.render(helm, CHART, values)
    (deployment,) = [o for o in dispatcher_objects(objects) if o.kind == "Deployment"]
    (container,) = cc.pod_template(deployment)["spec"]["containers"]
    operator = operator_container([o for o in objects if o not in dispatcher_objects(objects)])
    assert container["image"] == f"wafleet/runner:{APP_VERSION}"
    assert container["args"] == ["dispatcher"]
    assert container["securityContext"] == operator["securityContext"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["WAFLEET_DISPATCHER_EVENTS_QUEUE"] == "wafleet-events-dispatcher"
    assert env["WAFLEET_DISPATCHER_RETRY_QUEUE"] == "wafleet-events-retries"
    assert env["WAFLEET_DISPATCHER_ALLOWED_NETWORKS"] == "10.0.0.0/8,fd00::/8"
    assert env["WAFLEET_DISPATCHER_NAMESPACES"] == "shop"
    assert env["WAFLEET_DISPATCHER_AWS_ENDPOINT_URL"] == "http://localstack.tools:4566"
    # every variable the chart sets is one the dispatcher reads
    from session_runner.contract.dispatcher_settings import (
        DISPATCHER_ENV_PREFIX,
        DispatcherSettings,
    )

    known = {DISPATCHER_ENV_PREFIX + f.upper() for f in DispatcherSettings.model_fields}
    assert set(env) <= known, set(env) - known


def test_dispatcher_rbac_is_what_it_uses(helm: Path, tmp_path: Path) -> None:
    values = tmp_path / "dispatcher-values.yaml"
    values.write_text(yaml.safe_dump(DISPATCHER_VALUES))
    (role,) = [
        o for o in dispatcher_objects(cc.render(helm, CHART, values)) if o.kind == "ClusterRole"
    ]
    rules = {
        (group, resource): sorted(rule["verbs"])
        for rule in role.body["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert rules == {
        ("wafleet.io", "webhooksubscriptions"): ["get", "list"],
        ("wafleet.io", "webhooksubscriptions/status"): ["patch"],
        ("", "secrets"): ["get"],
        ("", "events"): ["create"],
    }


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("dispatcher.eventsQueue=not a queue", "eventsQueue"),
        ("dispatcher.allowedNetworks[0]=everything", "allowedNetworks"),
        ("dispatcher.concurrencyPerSubscriber=0", "concurrencyPerSubscriber"),
        ("dispatcher.refreshSeconds=0", "refreshSeconds"),
        ("dispatcher.healthPort=80", "healthPort"),
        ("dispatcher.retyQueue=x", "retyQueue"),
    ],
)
def test_schema_rejects_a_bad_dispatcher_setting(helm: Path, setting: str, key: str) -> None:
    proc = cc.run_helm(helm, "template", "x", str(CHART), "--set", setting)
    assert proc.returncode != 0, f"--set {setting} was accepted"
    assert key in proc.stderr


# ---------------------------------------------------------------- the dispatcher's metrics port


def dispatcher_container(helm: Path, tmp_path: Path, **dispatcher: Any) -> dict[str, Any]:
    values = tmp_path / "dispatcher-values.yaml"
    settings = {**DISPATCHER_VALUES["dispatcher"], **dispatcher}
    values.write_text(yaml.safe_dump({**DISPATCHER_VALUES, "dispatcher": settings}))
    objects = cc.render(helm, CHART, values)
    (deployment,) = [o for o in dispatcher_objects(objects) if o.kind == "Deployment"]
    (container,) = cc.pod_template(deployment)["spec"]["containers"]
    return dict(container)


@pytest.mark.parametrize(
    ("values", "served", "port"),
    [
        pytest.param({}, 9090, 9090, id="default"),
        pytest.param({"metricsPort": 9102}, 9102, 9102, id="another port"),
        pytest.param({"metricsPort": 0}, 0, None, id="off"),
    ],
)
def test_dispatcher_serves_metrics_on_the_port_it_names(
    helm: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    values: dict[str, Any],
    served: int,
    port: int | None,
) -> None:
    """The container port named `metrics` (as on the sender pods) is the one the dispatcher
    listens on, as its settings read the rendered env; 0 serves and names none."""
    from session_runner.contract.dispatcher_settings import DispatcherSettings

    container = dispatcher_container(helm, tmp_path, **values)
    for name in list(os.environ):
        if name.startswith("WAFLEET_"):
            monkeypatch.delenv(name)
    for name, value in env_of(container).items():
        monkeypatch.setenv(name, value)
    settings = DispatcherSettings()
    assert settings.metrics_port == served
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports.get("metrics") == port
    assert ports["health"] == settings.health_port != settings.metrics_port


def test_dispatcher_metrics_and_health_ports_must_differ(helm: Path) -> None:
    proc = cc.run_helm(
        helm, "template", "x", str(CHART),
        "--set", "dispatcher.enabled=true", "--set", "dispatcher.metricsPort=8081",
    )  # fmt: skip
    assert proc.returncode != 0
    assert "dispatcher.metricsPort and dispatcher.healthPort must differ" in proc.stderr


@pytest.mark.parametrize("port", ["80", "-1", "65536", '"9090"'])
def test_schema_rejects_a_bad_dispatcher_metrics_port(helm: Path, port: str) -> None:
    proc = cc.run_helm(
        helm, "template", "x", str(CHART), "--set-json", f"dispatcher.metricsPort={port}"
    )
    assert proc.returncode != 0, f"dispatcher.metricsPort={port} was accepted"
    assert "metricsPort" in proc.stderr


# ---------------------------------------------------------------- the HTTP API and the bulk worker

OUTBOUND_ARN = "arn:aws:sns:eu-west-1:123456789012:wafleet-outbound"
WORKER_ROLE = "arn:aws:iam::123456789012:role/wafleet-bulk-worker"
#: The API and the bulk worker enabled with what they need (and, for the worker, the
#: outbound topic as an ARN: it does not resolve names).
API_BULK_VALUES: dict[str, Any] = {
    "aws": {"region": "eu-west-1", "endpointUrl": "http://localstack.tools:4566"},
    "api": {
        "enabled": True,
        "keysSecret": {"name": "wafleet-api-keys"},
        "outboundTopic": OUTBOUND_ARN,
    },
    "bulk": {
        "bucket": "wafleet-bulk-uploads",
        "urlBuckets": ["wafleet-exports"],
        "worker": {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": WORKER_ROLE}}},
    },
}


def component(objects: Sequence[cc.Manifest], name: str) -> list[cc.Manifest]:
    return [o for o in objects if o.labels.get("app.kubernetes.io/component") == name]


def component_container(objects: Sequence[cc.Manifest], name: str) -> dict[str, Any]:
    (deployment,) = [o for o in component(objects, name) if o.kind == "Deployment"]
    (container,) = cc.pod_template(deployment)["spec"]["containers"]
    return dict(container)


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra` merged in, key by key (as helm merges values files)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def render_values(helm: Path, tmp_path: Path, values: dict[str, Any]) -> list[cc.Manifest]:
    path = tmp_path / "api-bulk-values.yaml"
    path.write_text(yaml.safe_dump(values))
    return cc.render(helm, CHART, path)


def template_error(helm: Path, tmp_path: Path, values: dict[str, Any]) -> str:
    """helm template's stderr for values it must refuse."""
    path = tmp_path / "refused-values.yaml"
    path.write_text(yaml.safe_dump(values))
    proc = cc.run_helm(helm, "template", "x", str(CHART), "--values", str(path))
    assert proc.returncode != 0, "the values were accepted"
    return proc.stderr


@pytest.mark.parametrize(
    "extra",
    [{}, {"watchNamespaces": ["shop", "whatsapp-staging"], "api": {"namespace": "shop"}}],
    ids=["cluster-wide", "namespaced"],
)
def test_api_and_bulk_worker_lint_render_and_validate(
    helm: Path,
    tmp_path: Path,
    extra: dict[str, Any],
    kube_versions: list[str],
    repo_crds: list[cc.Manifest],
) -> None:
    values = tmp_path / "api-bulk-values.yaml"
    values.write_text(yaml.safe_dump(merged(API_BULK_VALUES, extra)))
    report = cc.check_case(helm, CHART, values, kube_versions=kube_versions, repo_crds=repo_crds)
    assert report.ok, report.summary() + "\n" + "\n".join(report.problems)
    api = sorted(o.kind for o in component(report.objects, "api"))
    assert api == ["Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"]
    # The worker talks to AWS only: no Role, no binding, no Service.
    assert sorted(o.kind for o in component(report.objects, "bulk-worker")) == [
        "Deployment",
        "ServiceAccount",
    ]
    (role,) = [o for o in component(report.objects, "api") if o.kind == "Role"]
    assert role.namespace == (extra["api"]["namespace"] if extra else cc.NAMESPACE)


def test_api_and_bulk_worker_are_off_by_default(default_objects: list[cc.Manifest]) -> None:
    assert component(default_objects, "api") == []
    assert component(default_objects, "bulk-worker") == []


@pytest.mark.parametrize(
    ("api_enabled", "worker_enabled", "api", "worker"),
    [
        (False, None, False, False),
        (True, None, True, True),  # null: the worker follows the API
        (True, False, True, False),  # the API with a worker deployed elsewhere
        (False, True, False, True),  # a worker alone (the API in another release)
        (True, True, True, True),
    ],
)
def test_the_bulk_worker_follows_the_api_unless_set(
    helm: Path,
    tmp_path: Path,
    api_enabled: bool,
    worker_enabled: bool | None,
    api: bool,
    worker: bool,
) -> None:
    values = merged(
        API_BULK_VALUES,
        {"api": {"enabled": api_enabled}, "bulk": {"worker": {"enabled": worker_enabled}}},
    )
    objects = render_values(helm, tmp_path, values)
    assert bool(component(objects, "api")) is api
    assert bool(component(objects, "bulk-worker")) is worker


def test_bulk_worker_pod_runs_the_runner_locked_down_without_a_token(
    helm: Path, tmp_path: Path
) -> None:
    objects = render_values(helm, tmp_path, API_BULK_VALUES)
    mine = component(objects, "bulk-worker")
    container = component_container(objects, "bulk-worker")
    operator = operator_container(component(objects, "operator"))
    assert container["image"] == f"wafleet/runner:{APP_VERSION}"
    assert container["args"] == ["bulk-worker"]
    assert "command" not in container  # the image's entrypoint, wafleet-runner
    assert container["securityContext"] == operator["securityContext"]
    # It serves its metrics only: a named port for a PodMonitor, no probes, no Service.
    assert container["ports"] == [{"name": "metrics", "containerPort": 9090}]
    assert env_of(container)["WAFLEET_BULK_METRICS_PORT"] == "9090"
    assert not {"livenessProbe", "readinessProbe"} & set(container)
    assert not [o for o in mine if o.kind == "Service"]
    assert container["resources"]["limits"]["memory"] == "192Mi"  # the 150 MB goal, and room
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    (deployment,) = [o for o in mine if o.kind == "Deployment"]
    pod = cc.pod_template(deployment)["spec"]
    assert pod["serviceAccountName"] == "wafleet-bulk-worker"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert deployment.body["spec"]["replicas"] == 1
    (account,) = [o for o in mine if o.kind == "ServiceAccount"]
    assert account.body["automountServiceAccountToken"] is False
    assert account.body["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": WORKER_ROLE}


def test_bulk_worker_env_loads_into_its_settings(
    helm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every WAFLEET_BULK_* variable the chart sets is a BulkSettings field, and valid."""
    from session_runner.contract.bulk_settings import BULK_ENV_PREFIX, BulkSettings

    values = merged(
        API_BULK_VALUES,
        {"bulk": {"worker": {"lockSeconds": 45, "heartbeatSeconds": 15, "pollSeconds": 0.5}}},
    )
    env = env_of(component_container(render_values(helm, tmp_path, values), "bulk-worker"))
    assert set(env) <= {BULK_ENV_PREFIX + name.upper() for name in BulkSettings.model_fields}
    # The pod's name, from the downward API (the kubelet sets it).
    assert env.pop("WAFLEET_BULK_POD_NAME") == {"fieldRef": {"fieldPath": "metadata.name"}}
    for name in list(os.environ):
        if name.startswith("WAFLEET_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WAFLEET_BULK_POD_NAME", "wafleet-bulk-worker-7d9f-x2x4q")
    settings = BulkSettings()
    assert settings.topic_arn == OUTBOUND_ARN
    assert (settings.bucket, settings.table, settings.prefix) == (
        "wafleet-bulk-uploads",
        "wafleet-bulk-jobs",
        "bulk/",
    )
    assert settings.readable_buckets() == {"wafleet-bulk-uploads", "wafleet-exports"}
    assert (settings.lock_seconds, settings.heartbeat_seconds, settings.poll_seconds) == (
        45,
        15,
        0.5,
    )
    assert (settings.publish_concurrency, settings.max_columns) == (4, 1000)
    assert settings.exit_when_idle is False  # a Deployment's worker waits for jobs
    assert (settings.aws_region, settings.aws_endpoint_url) == (
        "eu-west-1",
        "http://localstack.tools:4566",
    )
    assert settings.pod_name == "wafleet-bulk-worker-7d9f-x2x4q"
    assert settings.metrics_port == 9090


def test_the_api_and_the_worker_get_the_same_bulk_settings(helm: Path, tmp_path: Path) -> None:
    """Where uploads are staged, where jobs are, what a URL may name, the column cap: the
    API that stages a job and the worker that reads it are given the same."""
    values = merged(API_BULK_VALUES, {"bulk": {"prefix": "uploads/", "maxColumns": 50}})
    objects = render_values(helm, tmp_path, values)
    api = {k: v for k, v in env_of(component_container(objects, "api")).items() if "_BULK_" in k}
    worker = env_of(component_container(objects, "bulk-worker"))
    assert set(api) == {
        "WAFLEET_BULK_BUCKET",
        "WAFLEET_BULK_TABLE",
        "WAFLEET_BULK_LEDGER_TABLE",
        "WAFLEET_BULK_PREFIX",
        "WAFLEET_BULK_URL_BUCKETS",
        "WAFLEET_BULK_MAX_COLUMNS",
    }
    assert {k: worker[k] for k in api} == api
    assert api["WAFLEET_BULK_PREFIX"] == "uploads/"
    assert api["WAFLEET_BULK_MAX_COLUMNS"] == "50"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {"api": {"enabled": True}},
            "api.keysSecret.name is required when api.enabled is true",
            id="api without keys",
        ),
        pytest.param(
            {"api": {"enabled": True, "keysSecret": {"name": "k"}}},
            "bulk.bucket is required when api.enabled is true",
            id="api without bucket",
        ),
        pytest.param(
            {"bulk": {"worker": {"enabled": True}}},
            "bulk.bucket is required when the bulk worker is enabled",
            id="worker without bucket",
        ),
        pytest.param(
            merged(API_BULK_VALUES, {"bulk": {"worker": {"heartbeatSeconds": 16}}}),
            "bulk.worker.heartbeatSeconds must be at most half of bulk.worker.lockSeconds",
            id="heartbeat past half the lock",
        ),
        pytest.param(
            merged(API_BULK_VALUES, {"bulk": {"worker": {"serviceAccount": {"create": False}}}}),
            "bulk.worker.serviceAccount.name is required when "
            "bulk.worker.serviceAccount.create is false",
            id="worker account without a name",
        ),
        pytest.param(
            merged(API_BULK_VALUES, {"watchNamespaces": ["shop"]}),
            'api.namespace "default" is not one of watchNamespaces [shop]',
            id="api namespace not watched",
        ),
        pytest.param(
            merged(API_BULK_VALUES, {"api": {"metricsPort": 8080}}),
            "api.port and api.metricsPort must differ",
            id="api ports clash",
        ),
    ],
)
def test_a_missing_or_inconsistent_value_is_named(
    helm: Path, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    assert message in template_error(helm, tmp_path, values)


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("api.namespace=Not_A_Namespace", "namespace"),
        ("api.keysSecret.key=../keys.json", "key"),
        ("api.outboundTopic=not a topic", "outboundTopic"),
        ("api.port=80", "port"),
        ("api.maxBodyBytes=10", "maxBodyBytes"),
        ("api.routingCacheSeconds=-1", "routingCacheSeconds"),
        ("api.servce.port=80", "servce"),
        ("bulk.bucket=Not_A_Bucket", "bucket"),
        ("bulk.table=x", "table"),
        ("bulk.prefix=/bulk/", "prefix"),
        ("bulk.urlBuckets[0]=s3://x", "urlBuckets"),
        ("bulk.worker.enabled=maybe", "enabled"),
        ("bulk.worker.lockSeconds=0", "lockSeconds"),
        ("bulk.worker.publishConcurrency=65", "publishConcurrency"),
        ("bulk.worker.logLevel=verbose", "logLevel"),
        ("bulk.worker.replicas=2", "replicas"),
    ],
)
def test_schema_rejects_a_bad_api_or_bulk_setting(helm: Path, setting: str, key: str) -> None:
    proc = cc.run_helm(helm, "template", "x", str(CHART), "--set", setting)
    assert proc.returncode != 0, f"--set {setting} was accepted"
    assert key in proc.stderr
