"""Lint, render and validate the wafleet Helm chart offline.

For the default values and each ``ci/*-values.yaml`` of the chart:

1. ``helm lint --strict`` (values.schema.json rejects unknown keys and wrong types);
2. ``helm template --include-crds``, then every rendered object is validated:

   * built-in kinds (CustomResourceDefinitions included) with
     ``kubernetes_validate`` in strict mode (unknown fields and wrong types are
     errors) against each Kubernetes version checked: the chart's kubeVersion
     floor, 1.30 and the newest the package ships;
   * wafleet's own custom resources with the validator the CRDs are generated
     with (``wafleet_operator.crdgen.validate_against_crd``: the one the demo
     and the tests use), other custom resources against the openAPIV3Schema of
     their CRD with ``jsonschema``, made strict the way
     ``kubectl --validate=strict`` is: unknown fields are errors unless the
     schema preserves them;
   * ServiceMonitors (monitoring.coreos.com has no schema offline) only
     loosely: the fields the chart sets, and that they select a rendered
     Service port;

3. cross-object checks the API server would only catch at install time, or
   never: selectors match pod labels, named ports exist, bindings point at
   rendered roles and service accounts, no wildcard or escalating RBAC, the
   operator holds every permission it grants runners, release labels, and
   the chart's CRDs equal the generated ``crds/*.yaml``.

Finally each ``tests/fixtures/chart/bad-*values.yaml`` must be rejected by
``helm lint`` and ``helm template`` with a message naming every key listed in
its ``# expect-errors:`` line.

Usage: python scripts/chart_check.py --helm .tools/bin/helm --chart charts/wafleet
Exit status: 0 when everything passes, 1 on any problem, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import functools
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parent.parent
RELEASE = "wafleet"
NAMESPACE = "wafleet-system"
PRIMARY_KUBE_VERSION = "1.30"
CRD_KIND = "CustomResourceDefinition"
PROJECT_GROUP = "wafleet.io"
MONITORING_GROUP = "monitoring.coreos.com"
KEEP_ANNOTATION = "helm.sh/resource-policy"


# What the operator puts into each runner's Role. Kubernetes lets a subject
# create a Role only with permissions it holds itself (no escalate verb), so the
# operator's own rules must cover these in every namespace it serves. Read from
# the operator's own builder, the one source of those rules (`make chart-check`
# runs in the project's venv, where the operator is installed).
@functools.cache
def load_runner_grants() -> tuple[dict[tuple[str, str], frozenset[str]], str]:
    """The runner Role's grants, and where they came from."""
    from wafleet_operator.specs.account import AccountRef
    from wafleet_operator.specs.rbac import role_rules

    rules = role_rules(AccountRef(name="a", namespace="ns", uid="u", generation=1))
    grants = {key: frozenset(verbs) for key, verbs in rule_grants(rules).items()}
    return grants, "wafleet_operator.specs.rbac.role_rules"


# Verbs that would let the operator grant more than it holds, or act as others.
ESCALATING_VERBS = frozenset({"escalate", "bind", "impersonate"})
#: Secrets are read by name only: list or watch would show the operator every Secret
#: of a namespace (or, cluster-wide, of the cluster), not just those accounts name.
SECRET_VERBS = frozenset({"get"})
RELEASE_LABELS = {
    "app.kubernetes.io/part-of": "wafleet",
    "app.kubernetes.io/managed-by": "Helm",
    "app.kubernetes.io/instance": RELEASE,
}
CLUSTER_SCOPED_BUILTINS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "CSIDriver",
        "CSINode",
        CRD_KIND,
        "FlowSchema",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
EXPECT_ERRORS = re.compile(r"^#\s*expect-errors:\s*(?P<keys>.+)$", re.MULTILINE)
SOURCE_LINE = re.compile(r"^# Source: (?P<source>\S+)", re.MULTILINE)
DOC_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
DURATION = r"^([0-9]+(ms|s|m|h))+$"

# Only the ServiceMonitor fields the chart renders, with their types; other
# fields pass (loose), since the prometheus-operator schema is not available.
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"enum": ["monitoring.coreos.com/v1"]},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": {
                    "type": "object",
                    "properties": {
                        "matchLabels": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                        "matchExpressions": {"type": "array"},
                    },
                },
                "namespaceSelector": {
                    "type": "object",
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "port": {"type": "string"},
                            "targetPort": {"type": ["string", "integer"]},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": DURATION},
                            "honorLabels": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}

Body = dict[str, Any]


class CheckError(Exception):
    """A step could not run at all (helm missing, rendering failed, ...)."""


# ---------------------------------------------------------------- small helpers


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_dict(value).items()}


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether a non-empty matchLabels selector matches the labels."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def json_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".") or "(root)"


@dataclass(frozen=True)
class Manifest:
    """One rendered object and the chart file it came from."""

    source: str
    body: Body

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def metadata(self) -> dict[str, Any]:
        return as_dict(self.body.get("metadata"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str | None:
        ns = self.metadata.get("namespace")
        return None if ns is None else str(ns)

    @property
    def labels(self) -> dict[str, str]:
        return str_map(self.metadata.get("labels"))

    @property
    def from_templates(self) -> bool:
        return "/templates/" in self.source

    @property
    def ref(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        short = self.source.split("/", 1)[-1]
        return f"{self.kind} {where} ({short})"


def parse_manifests(text: str) -> list[Manifest]:
    """Split `helm template` output into objects, keeping each one's source file."""
    manifests: list[Manifest] = []
    source = "(unknown)"
    for chunk in DOC_SEPARATOR.split(text):
        found = SOURCE_LINE.search(chunk)
        if found:
            source = found.group("source")
        try:
            body = yaml.safe_load(chunk)
        except yaml.YAMLError as exc:
            raise CheckError(f"{source}: rendered YAML does not parse: {exc}") from exc
        if body is None:
            continue
        if not isinstance(body, dict):
            raise CheckError(f"{source}: rendered document is not a mapping")
        manifests.append(Manifest(source=source, body=body))
    return manifests


def load_crd_files(paths: Iterable[Path]) -> list[Manifest]:
    crds: list[Manifest] = []
    for path in sorted(paths):
        for body in yaml.safe_load_all(path.read_text()):
            if isinstance(body, dict) and body.get("kind") == CRD_KIND:
                crds.append(Manifest(source=f"repo/{path.name}", body=body))
    return crds


# ---------------------------------------------------------------- helm


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [str(helm), *args], capture_output=True, text=True, timeout=120, check=False
        )
    except OSError as exc:
        raise CheckError(f"cannot run {helm}: {exc}") from exc


def values_args(values: Path | None, set_values: Sequence[str] = ()) -> list[str]:
    args = ["--values", str(values)] if values is not None else []
    for item in set_values:
        args += ["--set", item]
    return args


def lint(
    helm: Path,
    chart: Path,
    values: Path | None,
    kube_version: str = PRIMARY_KUBE_VERSION,
) -> list[str]:
    proc = run_helm(
        helm, "lint", "--strict", "--kube-version", f"{kube_version}.0", str(chart),
        *values_args(values),
    )  # fmt: skip
    if proc.returncode == 0:
        return []
    output = (proc.stdout + proc.stderr).strip()
    return [f"helm lint --strict failed:\n{indent(output)}"]


def render(
    helm: Path,
    chart: Path,
    values: Path | None = None,
    *,
    set_values: Sequence[str] = (),
    kube_version: str = PRIMARY_KUBE_VERSION,
    include_crds: bool = True,
) -> list[Manifest]:
    args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE]
    args += ["--kube-version", f"{kube_version}.0"]
    if include_crds:
        args.append("--include-crds")
    proc = run_helm(helm, *args, *values_args(values, set_values))
    if proc.returncode != 0:
        raise CheckError(f"helm template failed:\n{indent(proc.stderr.strip())}")
    return parse_manifests(proc.stdout)


def indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


# ---------------------------------------------------------------- built-in kinds


def kube_versions_for(chart: Path) -> list[str]:
    """The chart's kubeVersion floor, PRIMARY_KUBE_VERSION and the newest shipped schema."""
    shipped = [v.rsplit(".", 1)[0] for v in kubernetes_validate.utils.all_versions()]
    chart_yaml = as_dict(yaml.safe_load((chart / "Chart.yaml").read_text()))
    wanted = {PRIMARY_KUBE_VERSION, shipped[-1]}
    floor = re.search(r">=\s*v?(\d+)\.(\d+)", str(chart_yaml.get("kubeVersion", "")))
    if floor:
        wanted.add(f"{floor.group(1)}.{floor.group(2)}")
    missing = sorted(wanted - set(shipped))
    if missing:
        raise CheckError(f"kubernetes-validate has no schemas for Kubernetes {missing}")
    return sorted(wanted, key=lambda v: tuple(int(p) for p in v.split(".")))


def validate_builtin(manifest: Manifest, kube_versions: Sequence[str]) -> list[str]:
    """Strict schema validation of a built-in kind against every version."""
    by_message: dict[str, list[str]] = {}
    for version in kube_versions:
        try:
            kubernetes_validate.validate(manifest.body, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            message = f"{json_path(exc.path)}: {exc.message}"
        except kubernetes_validate.SchemaNotFoundError as exc:
            message = f"no schema: {exc.message}"
        except kubernetes_validate.InvalidSchemaError as exc:
            message = f"unusable schema: {exc.message}"
        else:
            continue
        by_message.setdefault(message, []).append(version)
    return [
        f"{manifest.ref}: [Kubernetes {', '.join(versions)}] {message}"
        for message, versions in by_message.items()
    ]


# ---------------------------------------------------------------- custom resources


def strict_schema(node: Any, *, structural: bool = True, open_object: bool = False) -> Any:
    """Turn a CRD's OpenAPI v3 (structural) schema into a strict JSON Schema (draft 4).

    Unknown fields become errors unless the schema preserves them, as with
    `kubectl apply --validate=strict`; `nullable`, `x-kubernetes-int-or-string`
    and `x-kubernetes-embedded-resource` are translated. CEL rules
    (x-kubernetes-validations) and formats are not evaluated.
    """
    if isinstance(node, list):
        return [strict_schema(item, structural=structural) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "nullable" or key.startswith("x-kubernetes-"):
            continue
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {k: strict_schema(v, structural=structural) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = strict_schema(value, structural=structural)
        elif key in ("allOf", "anyOf", "oneOf", "not"):
            # Value validations only: structural schemas keep types and fields outside them.
            out[key] = strict_schema(value, structural=False)
        else:
            out[key] = value  # type, enum, default, pattern, ... (taken as is)
    if node.get("x-kubernetes-int-or-string") is True:
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("x-kubernetes-embedded-resource") is True:
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    is_object = out.get("type") in ("object", ["object", "null"]) or "properties" in out
    if structural and is_object and not preserve and not open_object:
        out.setdefault("additionalProperties", False)
    return out


def root_schema(openapi: Any) -> dict[str, Any]:
    """The strict schema of a whole custom resource (apiVersion, kind, metadata allowed)."""
    root = as_dict(openapi)
    props = dict(as_dict(root.get("properties")))
    metadata = props.pop("metadata", {"type": "object"})
    schema = as_dict(strict_schema({**root, "properties": props}))
    schema_props = schema.setdefault("properties", {})
    schema_props["metadata"] = strict_schema(metadata, open_object=True)
    schema_props.setdefault("apiVersion", {"type": "string"})
    schema_props.setdefault("kind", {"type": "string"})
    return schema


@dataclass
class _CustomKind:
    crd: str
    scope: str
    validators: dict[str, Any] = field(default_factory=dict)  # served version -> validator


class CustomResourceValidator:
    """Validates custom resources against the CRDs it was given."""

    def __init__(self, crds: Iterable[Manifest]) -> None:
        self.kinds: dict[tuple[str, str], _CustomKind] = {}
        self.problems: list[str] = []
        for crd in crds:
            self._add(crd)

    def _add(self, crd: Manifest) -> None:
        spec = as_dict(crd.body.get("spec"))
        group = str(spec.get("group", ""))
        kind = str(as_dict(spec.get("names")).get("kind", ""))
        if (group, kind) in self.kinds:
            return  # the first definition wins (rendered before repository files)
        entry = _CustomKind(crd=crd.name, scope=str(spec.get("scope", "Namespaced")))
        for version in as_list(spec.get("versions")):
            version = as_dict(version)
            if not version.get("served", False):
                continue
            openapi = as_dict(version.get("schema")).get("openAPIV3Schema")
            schema = root_schema(openapi)
            try:
                jsonschema.Draft4Validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                self.problems.append(
                    f"{crd.ref}: version {version.get('name')}: schema is not valid "
                    f"JSON Schema at {json_path(exc.path)}: {exc.message}"
                )
                continue
            entry.validators[str(version.get("name"))] = jsonschema.Draft4Validator(schema)
        self.kinds[(group, kind)] = entry

    def knows(self, manifest: Manifest) -> bool:
        return (manifest.group, manifest.kind) in self.kinds

    def validate(self, manifest: Manifest) -> list[str]:
        entry = self.kinds.get((manifest.group, manifest.kind))
        if entry is None:
            return [f"{manifest.ref}: no CRD defines {manifest.kind} in {manifest.group}"]
        validator = entry.validators.get(manifest.version)
        if validator is None:
            served = ", ".join(sorted(entry.validators)) or "none"
            return [
                f"{manifest.ref}: version {manifest.version} is not served by "
                f"{entry.crd} (served: {served})"
            ]
        if manifest.group == PROJECT_GROUP:
            problems = project_resource_problems(manifest)
        else:
            problems = [
                f"{manifest.ref}: {json_path(err.absolute_path)}: {err.message}"
                for err in sorted(validator.iter_errors(manifest.body), key=lambda e: list(e.path))
            ]
        if not manifest.name:
            problems.append(f"{manifest.ref}: metadata.name is missing")
        if entry.scope == "Namespaced" and not manifest.namespace:
            problems.append(f"{manifest.ref}: namespaced kind without metadata.namespace")
        if entry.scope == "Cluster" and manifest.namespace:
            problems.append(f"{manifest.ref}: cluster-scoped kind with a metadata.namespace")
        return problems


def project_resource_problems(manifest: Manifest) -> list[str]:
    """wafleet's own resources go through the validator the CRDs are generated with
    (`wafleet_operator.crdgen.validate_against_crd`: schema, formats, unknown fields and
    the CEL rules), the one the demo and the tests use too; `check_crds` makes
    sure the chart's CRDs are those generated ones. `strict_schema` stays for the
    CRDs of others, whose rules no model of ours knows."""
    from wafleet_operator.crdgen import validate_against_crd

    return [f"{manifest.ref}: {error}" for error in validate_against_crd(None, manifest.body)]


def validate_service_monitor(manifest: Manifest) -> list[str]:
    validator = jsonschema.Draft7Validator(SERVICE_MONITOR_SCHEMA)
    return [
        f"{manifest.ref}: {json_path(err.absolute_path)}: {err.message}"
        for err in validator.iter_errors(manifest.body)
    ]


# ---------------------------------------------------------------- cross-object checks


def pod_template(workload: Manifest) -> dict[str, Any]:
    return as_dict(as_dict(workload.body.get("spec")).get("template"))


def pod_labels(workload: Manifest) -> dict[str, str]:
    return str_map(as_dict(pod_template(workload).get("metadata")).get("labels"))


def container_ports(workload: Manifest) -> list[dict[str, Any]]:
    spec = as_dict(pod_template(workload).get("spec"))
    return [
        as_dict(port)
        for container in as_list(spec.get("containers"))
        for port in as_list(as_dict(container).get("ports"))
    ]


def check_scopes_and_names(objects: Sequence[Manifest], crds: CustomResourceValidator) -> list[str]:
    problems: list[str] = []
    seen: Counter[tuple[str, str, str | None, str]] = Counter()
    for obj in objects:
        seen[(obj.group, obj.kind, obj.namespace, obj.name)] += 1
        if crds.knows(obj):
            continue  # scope checked with the custom resource
        cluster_scoped = obj.kind in CLUSTER_SCOPED_BUILTINS and obj.group != MONITORING_GROUP
        if cluster_scoped and obj.namespace:
            problems.append(f"{obj.ref}: cluster-scoped kind with a metadata.namespace")
        if not cluster_scoped and not obj.namespace:
            problems.append(f"{obj.ref}: namespaced kind without metadata.namespace")
    problems += [
        f"{kind} {ns + '/' if ns else ''}{name} ({group or 'core'}) is rendered {count} times"
        for (group, kind, ns, name), count in seen.items()
        if count > 1
    ]
    return problems


def check_labels(objects: Sequence[Manifest]) -> list[str]:
    problems = []
    for obj in objects:
        if not obj.from_templates:
            continue  # files in the chart's crds/ are not templated
        wrong = {k: v for k, v in RELEASE_LABELS.items() if obj.labels.get(k) != v}
        if wrong:
            problems.append(f"{obj.ref}: release labels missing or wrong: {wrong}")
    return problems


def check_workloads_and_services(objects: Sequence[Manifest]) -> list[str]:
    problems: list[str] = []
    workloads = [o for o in objects if o.kind in WORKLOAD_KINDS]
    for workload in workloads:
        selector = str_map(
            as_dict(as_dict(workload.body.get("spec")).get("selector")).get("matchLabels")
        )
        if workload.kind != "Job" and not selects(selector, pod_labels(workload)):
            problems.append(
                f"{workload.ref}: spec.selector.matchLabels does not match the pod labels"
            )

    def matching(namespace: str | None, selector: Mapping[str, str]) -> list[Manifest]:
        return [
            w for w in workloads if w.namespace == namespace and selects(selector, pod_labels(w))
        ]

    for svc in (o for o in objects if o.kind == "Service"):
        spec = as_dict(svc.body.get("spec"))
        selector = str_map(spec.get("selector"))
        if not selector:
            continue
        pods = matching(svc.namespace, selector)
        if not pods:
            problems.append(f"{svc.ref}: selector {selector} matches no rendered pod template")
            continue
        ports = [p for w in pods for p in container_ports(w)]
        names = {str(p.get("name")) for p in ports}
        numbers = {p.get("containerPort") for p in ports}
        for port in as_list(spec.get("ports")):
            target = as_dict(port).get("targetPort", as_dict(port).get("port"))
            if (isinstance(target, str) and target not in names) or (
                isinstance(target, int) and target not in numbers
            ):
                problems.append(
                    f"{svc.ref}: targetPort {target!r} is not a port of the selected pods"
                )

    for pdb in (o for o in objects if o.kind == "PodDisruptionBudget"):
        selector = str_map(
            as_dict(as_dict(pdb.body.get("spec")).get("selector")).get("matchLabels")
        )
        if not matching(pdb.namespace, selector):
            problems.append(f"{pdb.ref}: selector {selector} matches no rendered pod template")

    services = [o for o in objects if o.kind == "Service"]
    for mon in (o for o in objects if o.group == MONITORING_GROUP and o.kind == "ServiceMonitor"):
        spec = as_dict(mon.body.get("spec"))
        selector = str_map(as_dict(spec.get("selector")).get("matchLabels"))
        namespaces = as_list(as_dict(spec.get("namespaceSelector")).get("matchNames"))
        namespaces = namespaces or [mon.namespace]
        targets = [s for s in services if s.namespace in namespaces and selects(selector, s.labels)]
        if not targets:
            problems.append(f"{mon.ref}: selector {selector} matches no rendered Service")
            continue
        port_names = {
            str(as_dict(p).get("name"))
            for s in targets
            for p in as_list(as_dict(s.body.get("spec")).get("ports"))
        }
        for endpoint in as_list(spec.get("endpoints")):
            port = as_dict(endpoint).get("port")
            if port is not None and port not in port_names:
                problems.append(
                    f"{mon.ref}: endpoint port {port!r} is not a port of the selected Service"
                )
    return problems


def check_service_accounts(objects: Sequence[Manifest]) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    notes: list[str] = []
    rendered = {(o.namespace, o.name) for o in objects if o.kind == "ServiceAccount"}
    used: set[tuple[str | None, str]] = set()
    for workload in (o for o in objects if o.kind in WORKLOAD_KINDS):
        name = str(as_dict(pod_template(workload).get("spec")).get("serviceAccountName", "default"))
        used.add((workload.namespace, name))
        if (workload.namespace, name) not in rendered:
            notes.append(f"{workload.ref} uses ServiceAccount {name!r}, which must already exist")
    for binding in (o for o in objects if o.kind in ("RoleBinding", "ClusterRoleBinding")):
        for subject in map(as_dict, as_list(binding.body.get("subjects"))):
            if subject.get("kind") != "ServiceAccount":
                continue
            key = (str(subject.get("namespace")), str(subject.get("name")))
            if key not in rendered and key not in used:
                problems.append(
                    f"{binding.ref}: binds ServiceAccount {key[0]}/{key[1]}, "
                    "which no rendered workload uses"
                )
    return problems, notes


def rule_grants(rules: Iterable[Any]) -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in map(as_dict, rules):
        for group in as_list(rule.get("apiGroups")):
            for resource in as_list(rule.get("resources")):
                grants.setdefault((str(group), str(resource)), set()).update(
                    str(v) for v in as_list(rule.get("verbs"))
                )
    return grants


def check_rbac(objects: Sequence[Manifest]) -> list[str]:
    problems: list[str] = []
    roles = {(o.kind, o.namespace, o.name): o for o in objects if o.kind in ("Role", "ClusterRole")}
    for role in roles.values():
        for index, rule in enumerate(map(as_dict, as_list(role.body.get("rules")))):
            where = f"{role.ref}: rules[{index}]"
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                if "*" in as_list(rule.get(key)):
                    problems.append(f"{where}: wildcard '*' in {key}")
            if rule.get("nonResourceURLs"):
                problems.append(f"{where}: nonResourceURLs are not needed by the operator")
            escalating = ESCALATING_VERBS & set(as_list(rule.get("verbs")))
            if escalating:
                problems.append(f"{where}: escalating verbs {sorted(escalating)}")
            if "secrets" in as_list(rule.get("resources")):
                extra = set(as_list(rule.get("verbs"))) - SECRET_VERBS
                if extra:
                    problems.append(
                        f"{where}: secrets may only be read by name (get), found {sorted(extra)}"
                    )
    # The operator must hold what it grants runners, wherever it may create runner Roles.
    for binding in (o for o in objects if o.kind in ("RoleBinding", "ClusterRoleBinding")):
        ref = as_dict(binding.body.get("roleRef"))
        kind, name = str(ref.get("kind")), str(ref.get("name"))
        bound = roles.get((kind, binding.namespace if kind == "Role" else None, name))
        if bound is None:
            problems.append(f"{binding.ref}: roleRef {kind} {name!r} is not rendered")
            continue
        grants = rule_grants(as_list(bound.body.get("rules")))
        creates_roles = "create" in grants.get(("rbac.authorization.k8s.io", "roles"), set())
        if not creates_roles:
            continue
        for (group, resource), verbs in load_runner_grants()[0].items():
            missing = verbs - grants.get((group, resource), set())
            if missing:
                problems.append(
                    f"{bound.ref}: creates runner Roles but lacks {sorted(missing)} on "
                    f"{group}/{resource}, which it must grant them"
                )
    return problems


def check_crds(objects: Sequence[Manifest], repo_crds: Sequence[Manifest]) -> list[str]:
    """Project CRDs: kept on uninstall, and identical to the generated crds/*.yaml."""
    problems: list[str] = []
    rendered = {
        o.name: o for o in objects if o.kind == CRD_KIND and o.name.endswith("." + PROJECT_GROUP)
    }
    for crd in rendered.values():
        annotations = str_map(crd.metadata.get("annotations"))
        if annotations.get(KEEP_ANNOTATION) != "keep":
            problems.append(f"{crd.ref}: needs annotation {KEEP_ANNOTATION}: keep")
    if not rendered:
        return problems
    generated = {c.name: c for c in repo_crds if c.name.endswith("." + PROJECT_GROUP)}
    for name, crd in rendered.items():
        other = generated.get(name)
        if other is None:
            problems.append(f"{crd.ref}: not in crds/ (run `make crds`)")
        elif other.body.get("spec") != crd.body.get("spec"):
            problems.append(f"{crd.ref}: spec differs from crds/{name} (run `make crds`)")
    problems += [
        f"crds/: {name} is not rendered by the chart (run `make crds`)"
        for name in sorted(set(generated) - set(rendered))
    ]
    return problems


# ---------------------------------------------------------------- cases


@dataclass
class CaseReport:
    name: str
    values: Path | None
    kube_versions: list[str]
    objects: list[Manifest] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        values = "values.yaml" if self.values is None else self.values.name
        head = f"{'PASS' if self.ok else 'FAIL'} {self.name} ({values}): "
        if not self.objects:
            return head + f"{len(self.problems)} problem(s), nothing rendered"
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
        if self.ok:
            return (
                head + f"lint ok, {len(self.objects)} objects valid on Kubernetes "
                f"{', '.join(self.kube_versions)} [{kinds}]"
            )
        return head + f"{len(self.problems)} problem(s) in {len(self.objects)} objects [{kinds}]"


def check_case(
    helm: Path,
    chart: Path,
    values: Path | None,
    *,
    kube_versions: Sequence[str],
    repo_crds: Sequence[Manifest],
    name: str | None = None,
) -> CaseReport:
    report = CaseReport(
        name=name or ("default" if values is None else values.name.removesuffix("-values.yaml")),
        values=values,
        kube_versions=list(kube_versions),
    )
    report.problems += lint(helm, chart, values)
    try:
        objects = render(helm, chart, values)
    except CheckError as exc:
        report.problems.append(str(exc))
        return report
    report.objects = objects
    # Rendered CRDs first: they are what this release installs.
    crds = CustomResourceValidator([o for o in objects if o.kind == CRD_KIND] + list(repo_crds))
    report.problems += crds.problems
    for obj in objects:
        if not obj.kind or not obj.api_version:
            report.problems.append(f"{obj.source}: object without apiVersion or kind")
            continue
        if crds.knows(obj):
            report.counts["custom"] += 1
            report.problems += crds.validate(obj)
        elif obj.group == MONITORING_GROUP:
            report.counts["loose"] += 1
            report.problems += validate_service_monitor(obj)
            report.notes.append(
                f"{obj.ref}: checked loosely (no {MONITORING_GROUP} schema offline)"
            )
        else:
            report.counts["CRD" if obj.kind == CRD_KIND else "built-in"] += 1
            report.problems += validate_builtin(obj, kube_versions)
    sa_problems, sa_notes = check_service_accounts(objects)
    report.problems += check_scopes_and_names(objects, crds)
    report.problems += check_labels(objects)
    report.problems += check_workloads_and_services(objects)
    report.problems += sa_problems
    report.notes += sa_notes
    report.problems += check_rbac(objects)
    report.problems += check_crds(objects, repo_crds)
    generated = [c.name for c in repo_crds if c.name.endswith("." + PROJECT_GROUP)]
    if generated and not list((chart / "templates/crds").glob("*.yaml")):
        report.problems.append(
            f"crds/ holds {len(generated)} CRD(s) but {chart}/templates/crds/ has none "
            "(run `make crds`)"
        )
    return report


def expected_error_keys(path: Path) -> list[str]:
    found = EXPECT_ERRORS.search(path.read_text())
    if not found:
        raise CheckError(f"{path}: no '# expect-errors: key, ...' line")
    return [key.strip() for key in found.group("keys").split(",") if key.strip()]


def check_bad_values(helm: Path, chart: Path, path: Path) -> list[str]:
    """helm must refuse the file, naming each expected key, in lint and template alike."""
    problems: list[str] = []
    keys = expected_error_keys(path)
    for command in (["lint", "--strict"], ["template", RELEASE]):
        proc = run_helm(helm, *command, str(chart), "--values", str(path))
        output = proc.stdout + proc.stderr
        if proc.returncode == 0:
            problems.append(f"{path.name}: `helm {command[0]}` accepted values it must reject")
            continue
        unnamed = [key for key in keys if not re.search(rf"\b{re.escape(key)}\b", output)]
        if unnamed:
            problems.append(
                f"{path.name}: `helm {command[0]}` failed without naming {unnamed}:\n"
                f"{indent(output.strip())}"
            )
    return problems


def bad_values_files(fixtures: Path) -> list[Path]:
    return sorted(fixtures.glob("bad*values.yaml"))


def ci_values_files(chart: Path) -> list[Path]:
    return sorted((chart / "ci").glob("*-values.yaml"))


def repo_crd_files(crds_dir: Path) -> list[Path]:
    return sorted([*crds_dir.glob("*.yaml"), *crds_dir.glob("*.yml")])


def iter_reports(
    helm: Path, chart: Path, crds_dir: Path, kube_versions: Sequence[str]
) -> Iterator[CaseReport]:
    repo_crds = load_crd_files(repo_crd_files(crds_dir))
    for values in [None, *ci_values_files(chart)]:
        yield check_case(helm, chart, values, kube_versions=kube_versions, repo_crds=repo_crds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--helm", type=Path, default=REPO / ".tools/bin/helm")
    parser.add_argument("--chart", type=Path, default=REPO / "charts/wafleet")
    parser.add_argument("--crds-dir", type=Path, default=REPO / "crds")
    parser.add_argument("--fixtures", type=Path, default=REPO / "tests/fixtures/chart")
    parser.add_argument(
        "--kube-version",
        action="append",
        dest="kube_versions",
        metavar="MAJOR.MINOR",
        help="validate against this Kubernetes version (repeatable; default: the chart's "
        f"kubeVersion floor, {PRIMARY_KUBE_VERSION} and the newest schema shipped)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="also print notes")
    args = parser.parse_args(argv)

    helm: Path = args.helm
    chart: Path = args.chart
    if not (helm.is_file() and helm.stat().st_mode & 0o111):
        print(f"chart_check: no helm at {helm} (run `make tools`)", file=sys.stderr)
        return 2
    if not (chart / "Chart.yaml").is_file():
        print(f"chart_check: no Chart.yaml in {chart}", file=sys.stderr)
        return 2

    failed = 0
    grants, grants_source = load_runner_grants()
    print(f"runner Role grants the operator must hold ({grants_source}):")
    for (group, resource), verbs in sorted(grants.items()):
        print(f"  {group or 'core'}/{resource}: {', '.join(sorted(verbs))}")
    try:
        kube_versions = args.kube_versions or kube_versions_for(chart)
        for report in iter_reports(helm, chart, args.crds_dir, kube_versions):
            print(report.summary())
            for problem in report.problems:
                print(f"  - {problem}")
            notes = sorted(set(report.notes))
            if args.verbose:
                for note in notes:
                    print(f"  note: {note}")
            elif notes:
                print(f"  ({len(notes)} note(s); -v shows them)")
            failed += not report.ok
        bad_files = bad_values_files(args.fixtures)
        if not bad_files:
            print(f"FAIL bad values: no bad*values.yaml in {args.fixtures}")
            failed += 1
        for path in bad_files:
            problems = check_bad_values(helm, chart, path)
            keys = ", ".join(expected_error_keys(path))
            if problems:
                print(f"FAIL {path.name}: helm must reject it naming {keys}")
                for problem in problems:
                    print(f"  - {problem}")
                failed += 1
            else:
                print(f"PASS {path.name}: rejected by helm lint and template, naming {keys}")
    except CheckError as exc:
        print(f"chart_check: {exc}", file=sys.stderr)
        return 1
    if failed:
        print(f"chart_check: {failed} check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
