"""The CRDs: generated from the models, structural, and agreeing with the samples.

Kubernetes evaluates the CEL rules (x-kubernetes-validations) server-side; here
they are checked through their pydantic twins, and each rule's CEL text is
cross-checked against its Python check on a grid of inputs by a tiny evaluator
for the subset of CEL the rules use.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel, ValidationError

from wafleet_operator import crdgen
from wafleet_operator.api import (
    API_VERSION,
    CEL_ERROR_TYPE,
    GROUP,
    RESOURCES,
    VERSION,
    AccountPhase,
    Condition,
    ConditionStatus,
    EventType,
    LastDelivery,
    LeaseSpec,
    QueueDepth,
    RunnerPhase,
    RunnerReport,
    SecretRef,
    SenderPool,
    SenderPoolReplicas,
    SenderPoolSpec,
    SenderPoolStatus,
    SnapshotInfo,
    SubscriptionState,
    Vendor,
    WebhookSubscription,
    WebhookSubscriptionSpec,
    WebhookSubscriptionStatus,
    WhatsAppAccount,
    WhatsAppAccountSpec,
    WhatsAppAccountStatus,
    resource_info,
)
from wafleet_operator.api.common import KubeModel, LocalObjectReference, ResourceInfo

ROOT = Path(__file__).resolve().parents[2]
CRDS_DIR = ROOT / "crds"
CHART_DIR = ROOT / "charts" / "wafleet" / "templates" / "crds"
VALID = sorted((ROOT / "samples" / "valid").glob("*.yaml"))
INVALID = sorted((ROOT / "samples" / "invalid").glob("*.yaml"))
KINDS = [info.kind for info in RESOURCES]

ALLOWED_TYPES = {"object", "array", "string", "integer", "number", "boolean"}
FORBIDDEN_KEYWORDS = {"$ref", "$defs", "definitions", "anyOf", "oneOf", "allOf", "not", "title"}


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def _walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}" if path else name)
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


def _all_nodes() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for kind in KINDS:
        for path, node in _walk(crdgen.crd_schema(kind)):
            yield kind, path, node


# ---------------------------------------------------------------- (a) no drift


def test_committed_crds_match_the_models() -> None:
    problems = crdgen.check_files(CRDS_DIR, CHART_DIR)
    assert not problems, "CRDs differ from the models: run `make crds`\n" + "".join(problems)


def test_generation_is_deterministic() -> None:
    first = crdgen.expected_files(CRDS_DIR, CHART_DIR)
    second = crdgen.expected_files(CRDS_DIR, CHART_DIR)
    assert first == second
    assert sorted(p.name for p in first) == sorted(
        [f"{i.plural}.{GROUP}.yaml" for i in RESOURCES] + [f"{i.plural}.yaml" for i in RESOURCES]
    )


def test_cli_writes_then_check_detects_drift_and_stale_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crds, chart = tmp_path / "crds", tmp_path / "chart"
    args = ["--crds-dir", str(crds), "--chart-dir", str(chart)]
    assert crdgen.main([*args, "--check"]) == 1  # nothing written yet
    assert crdgen.main(args) == 0
    assert crdgen.main([*args, "--check"]) == 0

    target = crds / f"whatsappaccounts.{GROUP}.yaml"
    target.write_text(target.read_text().replace("minimum: 30", "minimum: 5"))
    capsys.readouterr()
    assert crdgen.main([*args, "--check"]) == 1
    out = capsys.readouterr()
    assert "-                    minimum: 5" in out.out
    assert "+                    minimum: 30" in out.out
    assert "run `make crds`" in out.err

    assert crdgen.main(args) == 0
    (chart / "oldthings.yaml").write_text("stale\n")
    assert crdgen.main([*args, "--check"]) == 1
    assert "stale:" in capsys.readouterr().out
    assert crdgen.main(args) == 0
    assert not (chart / "oldthings.yaml").exists()


@pytest.mark.parametrize("info", RESOURCES, ids=lambda i: i.kind)
def test_chart_template_wraps_the_same_crd(info: ResourceInfo) -> None:
    text = (CHART_DIR / f"{info.plural}.yaml").read_text()
    lines = text.splitlines()
    assert lines[0] == "{{- if .Values.crds.create }}"
    assert lines[-1] == "{{- end }}"
    assert '    {{- include "wafleet.labels" . | nindent 4 }}' in lines
    # Everything else is plain YAML: the Helm actions are the only template text.
    plain = [line for line in lines if "{{" not in line]
    assert not any("}}" in line for line in plain)
    rendered = yaml.safe_load("\n".join(plain))
    assert rendered["metadata"]["annotations"] == {
        "helm.sh/resource-policy": "keep",
        "argocd.argoproj.io/sync-options": "Prune=false,Delete=false",
    }
    plain_crd = _load(CRDS_DIR / f"{info.crd_name}.yaml")
    assert rendered["spec"] == plain_crd["spec"]
    assert rendered["metadata"]["name"] == plain_crd["metadata"]["name"] == info.crd_name


# ---------------------------------------------------------------- (b) structural


def test_every_node_is_typed_and_structural() -> None:
    for kind, path, node in _all_nodes():
        where = f"{kind} {path or '<root>'}"
        assert not FORBIDDEN_KEYWORDS & node.keys(), f"{where}: {FORBIDDEN_KEYWORDS & node.keys()}"
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, where
        elif node.get("x-kubernetes-preserve-unknown-fields"):
            pass
        else:
            assert node.get("type") in ALLOWED_TYPES, f"{where}: no type"
        assert not ("properties" in node and "additionalProperties" in node), where
        assert node.get("additionalProperties") is not False, where
        if node.get("type") == "array":
            assert isinstance(node.get("items"), dict), f"{where}: array without items"
        if node.get("type") == "object" and "properties" not in node:
            assert path == "metadata" or "additionalProperties" in node, f"{where}: open object"
        if "enum" in node:
            assert node.get("type") == "string", where
            assert all(isinstance(v, str) for v in node["enum"]), where


def test_metadata_is_left_to_the_api_server() -> None:
    for kind in KINDS:
        schema = crdgen.crd_schema(kind)
        assert schema["properties"]["metadata"] == {"type": "object"}
        assert schema["required"] == ["spec"]


def test_every_field_has_a_short_single_line_description() -> None:
    for kind, path, node in _all_nodes():
        if path in ("", "metadata") or path.endswith("[]"):
            continue
        description = node.get("description")
        assert description, f"{kind} {path}: no description (kubectl explain shows it)"
        assert "\n" not in description, f"{kind} {path}"
        assert len(description) <= 120, f"{kind} {path}: {len(description)} chars"


def test_defaults_are_valid_against_their_own_schema() -> None:
    seen = 0
    for kind, path, node in _all_nodes():
        if "default" not in node:
            continue
        seen += 1
        value = crdgen.apply_schema_defaults(node, _copy(node["default"]))
        jsonschema.validate(value, crdgen.to_jsonschema(node), cls=jsonschema.Draft7Validator)
        assert path, f"{kind}: default at the root"
    assert seen > 20


def _copy(value: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(value))


def test_list_maps_are_keyed_by_required_fields() -> None:
    maps = [(k, p, n) for k, p, n in _all_nodes() if n.get("x-kubernetes-list-type") == "map"]
    assert {(k, p) for k, p, _ in maps} == {(kind, "status.conditions") for kind in KINDS}
    for kind, path, node in maps:
        keys = node["x-kubernetes-list-map-keys"]
        assert set(keys) <= set(node["items"]["required"]), f"{kind} {path}"


def test_cel_rules_are_well_formed_and_field_paths_exist() -> None:
    rules = [(k, p, r) for k, p, n in _all_nodes() for r in n.get("x-kubernetes-validations", [])]
    assert len(rules) == 11
    for kind, path, rule in rules:
        node = _node_at(crdgen.crd_schema(kind), path)
        assert rule["rule"], f"{kind} {path}"
        assert rule["message"], f"{kind} {path}"
        if path == "":
            # On the root only metadata.name is read, and the server refuses it as a
            # fieldPath (metadata has no properties in the schema): the message names it.
            assert "fieldPath" not in rule, kind
            assert rule["message"].startswith("metadata.name "), kind
            continue
        node_at = node
        for part in rule["fieldPath"].removeprefix(".").split("."):
            assert part in node_at.get("properties", {}), (
                f"{kind} {path}: fieldPath {rule['fieldPath']} does not exist"
            )
            node_at = node_at["properties"][part]


def test_the_account_name_rules_sit_on_the_root_only() -> None:
    """CEL may read metadata.name on the root schema only; the models check the same."""
    root = crdgen.crd_schema("WhatsAppAccount")["x-kubernetes-validations"]
    assert [r["rule"] for r in root] == [r.rule for r in WhatsAppAccount.cel_rules]
    for name, ok in [
        ("demo", True),
        ("2fa", True),
        ("n" * 48, True),
        ("n" * 49, False),
        ("sales.eu", False),
        ("-demo", False),
        ("demo-", False),
    ]:
        errors = crdgen.validate_against_crd(
            None,
            {
                "apiVersion": API_VERSION,
                "kind": "WhatsAppAccount",
                "metadata": {"name": name},
                "spec": {"phoneNumber": "+15550100001"},
            },
        )
        assert (errors == []) is ok, (name, errors)
        assert all(e.path == "metadata.name" for e in errors), errors


def _node_at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    node = schema
    for part in filter(None, path.split(".")):
        node = node["properties"][part]
    return node


# ---------------------------------------------------------------- (c) samples


def test_samples_cover_every_kind_and_vendor() -> None:
    kinds = {_load(p)["kind"] for p in VALID}
    assert kinds == set(KINDS)
    assert {_load(p)["kind"] for p in INVALID} == set(KINDS)
    vendors = {_load(p)["spec"]["vendor"] for p in VALID if _load(p)["kind"] == "SenderPool"}
    assert vendors == {v.value for v in Vendor}
    engines = {
        _load(p)["spec"].get("engine") for p in VALID if _load(p)["kind"] == "WhatsAppAccount"
    }
    assert engines == {"browser", "protocol", "local"}
    local = _load(ROOT / "samples" / "valid" / "whatsappaccount-local.yaml")
    assert local["metadata"] == {"name": "demo"}
    assert local["spec"]["engine"] == "local"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_sample_is_accepted(path: Path) -> None:
    obj = _load(path)
    assert crdgen.validate_against_crd(None, obj) == []
    info = resource_info(obj["kind"])
    parsed = info.resource_model.model_validate(obj)
    # What the API server stores after defaulting equals what pydantic fills in.
    stored = crdgen.apply_defaults(info.kind, obj)
    assert stored["spec"] == parsed.to_kube()["spec"]
    assert crdgen.validate_against_crd(info.kind, stored) == []


def _expected_error(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    match = re.fullmatch(r"# expect-error: (\S+)", first)
    assert match, f"{path.name}: first line must be '# expect-error: <field path>'"
    return match.group(1)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_sample_is_refused_at_its_field(path: Path) -> None:
    expected = _expected_error(path)
    obj = _load(path)
    errors = crdgen.validate_against_crd(None, obj)
    assert errors, f"{path.name} was accepted"
    # Exactly one defect: every error points at (or inside) the expected field.
    for error in errors:
        assert error.path == expected or error.path.startswith((f"{expected}.", f"{expected}[")), (
            f"{path.name}: unexpected error {error}"
        )
    # The models refuse it too, so the operator never acts on such a spec.
    with pytest.raises(ValidationError):
        resource_info(obj["kind"]).resource_model.model_validate(obj)


def test_cel_only_defects_are_caught_by_the_pydantic_twins() -> None:
    cel_only = [p for p in INVALID if not crdgen.validate_against_crd(None, _load(p), rules=False)]
    assert len(cel_only) == 6, [p.name for p in cel_only]
    for path in cel_only:
        obj = _load(path)
        with pytest.raises(ValidationError) as info:
            resource_info(obj["kind"]).resource_model.model_validate(obj)
        assert [e["type"] for e in info.value.errors()] == [CEL_ERROR_TYPE], path.name


# ---------------------------------------------------------------- (d) unknown fields


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"spec": {"phoneNumber": "+15550100001", "colour": "blue"}}, "spec.colour"),
        (
            {"spec": {"phoneNumber": "+15550100001", "lease": {"durationSecond": 20}}},
            "spec.lease.durationSecond",
        ),
        ({"spec": {"phoneNumber": "+15550100001"}, "status": {"kopf": {}}}, "status.kopf"),
        (
            {
                "spec": {"phoneNumber": "+15550100001"},
                "status": {"conditions": [{"type": "Ready", "status": "True", "extra": 1}]},
            },
            "status.conditions[0].extra",
        ),
        ({"spec": {"phoneNumber": "+15550100001"}, "extra": True}, "extra"),
    ],
)
def test_unknown_fields_are_refused(patch: dict[str, Any], expected: str) -> None:
    obj = {"apiVersion": API_VERSION, "kind": "WhatsAppAccount", "metadata": {"name": "a"}}
    obj.update(patch)
    errors = crdgen.validate_against_crd("waa", obj)
    assert [(e.path, e.message) for e in errors] == [(expected, "unknown field")]
    # A real API server prunes them instead (kubectl apply --validate=strict refuses).
    assert crdgen.validate_against_crd("waa", obj, unknown_fields=False, rules=False) == []
    with pytest.raises(ValidationError):
        WhatsAppAccount.model_validate(obj)


def test_metadata_is_open_but_needs_a_name() -> None:
    obj = {
        "apiVersion": API_VERSION,
        "kind": "WebhookSubscription",
        "metadata": {"generateName": "crm-", "labels": {"a": "b"}, "anything": 1},
        "spec": {
            "url": "https://x.example/h",
            "eventTypes": ["account.qr"],
            "signingSecret": {"name": "s"},
        },
    }
    assert crdgen.validate_against_crd("whs", obj) == []
    del obj["metadata"]
    assert [e.path for e in crdgen.validate_against_crd("whs", obj)] == ["metadata.name"]


def test_wrong_kind_api_version_and_unknown_kind() -> None:
    obj: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "SenderPool",
        "metadata": {"name": "a"},
    }
    obj["spec"] = {"vendor": "session", "target": "t", "accountRef": {"name": "demo"}}
    assert crdgen.validate_against_crd(None, obj) == []
    paths = [e.path for e in crdgen.validate_against_crd("waa", obj)]
    assert paths[0] == "kind"
    assert "spec.phoneNumber" in paths
    assert [
        e.path for e in crdgen.validate_against_crd("sp", {**obj, "apiVersion": "wafleet.io/v1"})
    ] == ["apiVersion"]
    assert [e.path for e in crdgen.validate_against_crd("Pod", obj)] == ["kind"]
    assert [e.path for e in crdgen.validate_against_crd(None, {})] == ["kind"]


def test_nulls_are_pruned_like_the_api_server_does() -> None:
    obj = {
        "apiVersion": API_VERSION,
        "kind": "WhatsAppAccount",
        "metadata": {"name": "a"},
        "spec": {"phoneNumber": "+15550100001", "snapshot": None, "image": None},
    }
    assert crdgen.validate_against_crd(None, obj) == []


def test_duplicate_condition_types_are_refused() -> None:
    ready = {"type": "Ready", "status": "True"}
    obj = {
        "apiVersion": API_VERSION,
        "kind": "SenderPool",
        "metadata": {"name": "a"},
        "spec": {"vendor": "session", "target": "t", "accountRef": {"name": "demo"}},
        "status": {"conditions": [ready, {**ready, "status": "False"}]},
    }
    assert [e.path for e in crdgen.validate_against_crd(None, obj)] == ["status.conditions[1]"]


def test_formats_are_checked() -> None:
    now = "2025-01-02T03:04:05Z"
    status: dict[str, Any] = {"lastDelivery": {"time": "yesterday"}}
    obj: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "WebhookSubscription",
        "metadata": {"name": "a"},
        "spec": {
            "url": "https://x.example/",
            "eventTypes": ["account.qr"],
            "signingSecret": {"name": "s"},
        },
        "status": status,
    }
    assert [e.path for e in crdgen.validate_against_crd(None, obj)] == ["status.lastDelivery.time"]
    status["lastDelivery"] = {"time": now}
    assert crdgen.validate_against_crd(None, obj) == []
    obj["spec"]["url"] = "https://"
    assert {e.path for e in crdgen.validate_against_crd(None, obj)} == {"spec.url"}


# ---------------------------------------------------------------- statuses the operator writes


def _now() -> datetime:
    return datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def _ready(generation: int) -> Condition:
    return Condition(
        type="Ready",
        status=ConditionStatus.TRUE,
        reason="Connected",
        message="session connected",
        last_transition_time=_now(),
        observed_generation=generation,
    )


@pytest.mark.parametrize(
    "resource",
    [
        WhatsAppAccount(
            metadata={"name": "demo"},
            spec=WhatsAppAccountSpec(phone_number="+15550100001"),
            status=WhatsAppAccountStatus(
                phase=AccountPhase.CONNECTED,
                conditions=[_ready(3)],
                observed_generation=3,
                lease_holder="demo-0",
                fencing_token=7,
                last_snapshot=SnapshotInfo(id="s-1", time=_now(), bytes=1024, seconds=1.5),
                runner=RunnerReport(
                    phase=RunnerPhase.CONNECTED,
                    holder="demo-0",
                    fencing_token=7,
                    reported_at=_now(),
                ),
            ),
        ),
        SenderPool(
            metadata={"name": "p"},
            spec=SenderPoolSpec(
                vendor=Vendor.TWILIO, target="otp", credentials_secret=SecretRef(name="t")
            ),
            status=SenderPoolStatus(
                queue_depth=QueueDepth(visible=10, in_flight=2),
                replicas=1,
                desired_replicas=1,
                last_scale_time=_now(),
                conditions=[_ready(1)],
                observed_generation=1,
            ),
        ),
        WebhookSubscription(
            metadata={"name": "w"},
            spec=WebhookSubscriptionSpec(
                url="http://crm.example:8080/h",
                event_types=[EventType.ACCOUNT_QR],
                signing_secret={"name": "s"},
            ),
            status=WebhookSubscriptionStatus(
                state=SubscriptionState.ACTIVE,
                failures_last_24h=0,
                last_delivery=LastDelivery(time=_now(), status_code=204, event_id="evt_1"),
                conditions=[_ready(1)],
            ),
        ),
    ],
    ids=lambda r: type(r).__name__,
)
def test_model_output_is_accepted_and_round_trips(resource: KubeModel) -> None:
    body = resource.to_kube()
    assert crdgen.validate_against_crd(None, body) == []
    assert type(resource).model_validate(body) == resource


def test_failures_aliases_keep_24h_lower_case() -> None:
    assert (
        "failuresIn24h"
        in crdgen.crd_schema("whs")["properties"]["spec"]["properties"]["tombstone"]["properties"]
    )
    status = WebhookSubscriptionStatus.model_validate({"failuresLast24h": 3})
    assert status.failures_last_24h == 3
    assert status.to_kube() == {"failuresLast24h": 3, "conditions": []}


# ---------------------------------------------------------------- CEL rules


def _cel_to_python(rule: str) -> str:
    """Translate the small CEL subset our rules use (self.x, has(), ||, &&, !, ==,
    <=, >, *) into a Python expression over a dict named ``self``."""
    assert re.fullmatch(r"[\w\s.()'=<>!|&*+-]+", rule), f"CEL outside the tested subset: {rule}"
    expr = re.sub(r"has\(self\.(\w+)\)", r"('\1' in self)", rule)
    expr = re.sub(r"self\.(\w+)", r"self['\1']", expr)
    expr = expr.replace("||", " or ").replace("&&", " and ")
    return re.sub(r"!(?!=)", " not ", expr)


def _cel(rule: str, obj: dict[str, Any]) -> bool:
    return bool(eval(_cel_to_python(rule), {"__builtins__": {}}, {"self": obj}))


def _lease_grid() -> Iterator[BaseModel]:
    for d, r, p in itertools.product(range(1, 13), repeat=3):
        yield LeaseSpec.model_construct(
            duration_seconds=d, renew_deadline_seconds=r, retry_period_seconds=p
        )


def _replicas_grid() -> Iterator[BaseModel]:
    for lo, hi in itertools.product(range(4), range(1, 4)):
        yield SenderPoolReplicas.model_construct(min=lo, max=hi)


def _sender_grid() -> Iterator[BaseModel]:
    for vendor, creds, ref in itertools.product(
        Vendor, (None, SecretRef(name="c")), (None, LocalObjectReference(name="a"))
    ):
        yield SenderPoolSpec.model_construct(
            vendor=vendor, target="t", credentials_secret=creds, account_ref=ref
        )


@pytest.mark.parametrize(
    ("model", "grid"),
    [
        (LeaseSpec, _lease_grid),
        (SenderPoolReplicas, _replicas_grid),
        (SenderPoolSpec, _sender_grid),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_cel_rules_agree_with_their_python_checks(model: type[KubeModel], grid: Any) -> None:
    assert model.cel_rules
    crd_rules = [
        rule for _, _, node in _all_nodes() for rule in node.get("x-kubernetes-validations", [])
    ]
    outcomes: set[bool] = set()
    for rule in model.cel_rules:
        assert rule.to_crd() in crd_rules
        for instance in grid():
            as_cel = _cel(rule.rule, instance.model_dump(by_alias=True, exclude_none=True))
            assert as_cel == rule.check(instance), f"{rule.rule} on {instance!r}"
            outcomes.add(as_cel)
    assert outcomes == {True, False}


def test_lease_rules_follow_client_go() -> None:
    assert LeaseSpec() == LeaseSpec(
        duration_seconds=15, renew_deadline_seconds=10, retry_period_seconds=2
    )
    LeaseSpec(duration_seconds=15, renew_deadline_seconds=12, retry_period_seconds=9)
    for bad in ({"renewDeadlineSeconds": 15}, {"retryPeriodSeconds": 9}):
        with pytest.raises(ValidationError) as info:
            LeaseSpec.model_validate(bad)
        (error,) = info.value.errors()
        assert error["type"] == CEL_ERROR_TYPE
        assert error["ctx"]["field_path"] == "." + next(iter(bad))


def test_sender_pool_rules() -> None:
    SenderPoolSpec(vendor=Vendor.SESSION, target="t", account_ref={"name": "demo"})
    SenderPoolSpec(vendor=Vendor.META_CLOUD, target="t", credentials_secret={"name": "c"})
    with pytest.raises(ValidationError, match="credentialsSecret is required"):
        SenderPoolSpec(vendor=Vendor.TWILIO, target="t")
    with pytest.raises(ValidationError, match="accountRef is required"):
        SenderPoolSpec(
            vendor=Vendor.TWILIO,
            target="t",
            credentials_secret={"name": "c"},
            account_ref={"name": "demo"},
        )
    assert SenderPoolReplicas(min=3, max=3).min == 3
    with pytest.raises(ValidationError, match="min must not exceed max"):
        SenderPoolReplicas(min=4, max=3)


# ---------------------------------------------------------------- (e) names, columns, subresources


@pytest.mark.parametrize("info", RESOURCES, ids=lambda i: i.kind)
def test_names_columns_and_subresources(info: ResourceInfo) -> None:
    crd = _load(CRDS_DIR / f"{info.crd_name}.yaml")
    spec = crd["spec"]
    assert crd["metadata"]["name"] == f"{info.plural}.{GROUP}"
    assert spec["group"] == GROUP
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == list(info.short_names)
    assert spec["names"]["categories"] == ["wafleet"]
    assert spec["names"]["listKind"] == f"{info.kind}List"
    (version,) = spec["versions"]
    assert version["name"] == VERSION
    assert version["served"] is True
    assert version["storage"] is True
    assert version["subresources"] == {"status": {}}
    columns = version["additionalPrinterColumns"]
    assert columns[-1]["name"] == "Age"
    schema = version["schema"]["openAPIV3Schema"]
    for column in columns:
        _assert_column_points_at_schema(schema, column)


def _assert_column_points_at_schema(schema: dict[str, Any], column: dict[str, Any]) -> None:
    path = column["jsonPath"]
    if path == ".metadata.creationTimestamp":
        return
    node = schema
    for part in re.findall(r"\.(\w+)(\[\?\(@\.type==\"\w+\"\)\])?", path):
        node = node["properties"][part[0]]
        if part[1]:
            node = node["items"]
    kind = {"string": "string", "integer": "integer", "date": "string", "number": "number"}
    assert node["type"] == kind[column["type"]], column
    if column["type"] == "date":
        assert node.get("format") == "date-time", column


def test_expected_printer_columns() -> None:
    names = {i.kind: [c.name for c in i.printer_columns] for i in RESOURCES}
    assert names == {
        "WhatsAppAccount": ["Phone", "Engine", "Phase", "Ready", "Holder", "Snapshot", "Age"],
        "SenderPool": ["Vendor", "Target", "Replicas", "Queue", "Ready", "Age"],
        "WebhookSubscription": ["URL", "State", "Failures", "Last Delivery", "Age"],
    }
    assert {i.short_names for i in RESOURCES} == {("waa",), ("sp",), ("whs",)}


def test_resource_lookup() -> None:
    for name in ("waa", "WhatsAppAccount", "whatsappaccounts", f"whatsappaccounts.{GROUP}"):
        assert resource_info(name).kind == "WhatsAppAccount"
    with pytest.raises(KeyError):
        resource_info("pods")
    assert crdgen.build_crd(SenderPoolSpec) == crdgen.build_crd("sp")
