"""Table test of what the operator finds wrong in a spec the schema accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from wafleet_operator.validation import (
    bucket_name_problem,
    find_problems,
    parse_spec,
    secret_needs,
)

CRD = Path(__file__).resolve().parents[2] / "crds" / "whatsappaccounts.wafleet.io.yaml"

BASE: dict[str, Any] = {"phoneNumber": "+14155550100", "engine": "local"}
SNAP = {"bucket": "wafleet-snaps", "encryptionKeySecret": {"name": "kek"}}
CREDS = {"name": "s3", "accessKeyIdKey": "id", "secretAccessKeyKey": "secret"}
ALL_SECRETS = {"kek": frozenset({"key"}), "s3": frozenset({"id", "secret"})}

# (case, account name, spec, secrets that exist, fields expected in the problems)
TABLE: list[tuple[str, str, dict[str, Any], dict[str, frozenset[str]], list[str]]] = [
    ("valid, no snapshot", "demo", BASE, {}, []),
    ("valid with snapshot", "demo", {**BASE, "snapshot": SNAP}, ALL_SECRETS, []),
    (
        "valid with credentials",
        "demo",
        {**BASE, "snapshot": {**SNAP, "credentialsSecret": CREDS}},
        ALL_SECRETS,
        [],
    ),
    (
        "key Secret missing",
        "demo",
        {**BASE, "snapshot": SNAP},
        {},
        ["spec.snapshot.encryptionKeySecret.name"],
    ),
    (
        "key missing in Secret",
        "demo",
        {**BASE, "snapshot": SNAP},
        {"kek": frozenset({"other"})},
        ["spec.snapshot.encryptionKeySecret.key"],
    ),
    (
        "named key missing in Secret",
        "demo",
        {**BASE, "snapshot": {**SNAP, "encryptionKeySecret": {"name": "kek", "key": "kek"}}},
        {"kek": frozenset({"key"})},
        ["spec.snapshot.encryptionKeySecret.key"],
    ),
    (
        "credentials Secret missing",
        "demo",
        {**BASE, "snapshot": {**SNAP, "credentialsSecret": CREDS}},
        {"kek": frozenset({"key"})},
        ["spec.snapshot.credentialsSecret.name"],
    ),
    (
        "secret access key missing",
        "demo",
        {**BASE, "snapshot": {**SNAP, "credentialsSecret": CREDS}},
        {"kek": frozenset({"key"}), "s3": frozenset({"id"})},
        ["spec.snapshot.credentialsSecret.secretAccessKeyKey"],
    ),
    (
        "access key id missing",
        "demo",
        {**BASE, "snapshot": {**SNAP, "credentialsSecret": CREDS}},
        {"kek": frozenset({"key"}), "s3": frozenset({"secret"})},
        ["spec.snapshot.credentialsSecret.accessKeyIdKey"],
    ),
    (
        "both credential keys missing",
        "demo",
        {**BASE, "snapshot": {**SNAP, "credentialsSecret": CREDS}},
        {"kek": frozenset({"key"}), "s3": frozenset()},
        [
            "spec.snapshot.credentialsSecret.accessKeyIdKey",
            "spec.snapshot.credentialsSecret.secretAccessKeyKey",
        ],
    ),
    (
        "default credential keys missing",
        "demo",
        {**BASE, "snapshot": {**SNAP, "credentialsSecret": {"name": "s3"}}},
        {"kek": frozenset({"key"}), "s3": frozenset({"AWS_ACCESS_KEY_ID"})},
        ["spec.snapshot.credentialsSecret.secretAccessKeyKey"],
    ),
    (
        "bucket with adjacent dots",
        "demo",
        {**BASE, "snapshot": {**SNAP, "bucket": "a..b"}},
        ALL_SECRETS,
        ["spec.snapshot.bucket"],
    ),
    (
        "bucket like an IP",
        "demo",
        {**BASE, "snapshot": {**SNAP, "bucket": "192.168.5.4"}},
        ALL_SECRETS,
        ["spec.snapshot.bucket"],
    ),
    ("restore without store", "demo", {**BASE, "restoreFrom": "snap-1"}, {}, ["spec.restoreFrom"]),
    ("name too long", "n" * 49, BASE, {}, ["metadata.name"]),
    ("longest name fits", "n" * 48, BASE, {}, []),
    (
        "two problems at once",
        "n" * 49,
        {**BASE, "snapshot": SNAP},
        {},
        ["metadata.name", "spec.snapshot.encryptionKeySecret.name"],
    ),
]


@pytest.mark.parametrize(
    ("case", "name", "spec", "secrets", "fields"), TABLE, ids=[row[0] for row in TABLE]
)
def test_find_problems(
    case: str,
    name: str,
    spec: dict[str, Any],
    secrets: dict[str, frozenset[str]],
    fields: list[str],
) -> None:
    parsed, parse_problems = parse_spec(spec)
    assert parsed is not None, parse_problems
    assert [p.field for p in find_problems(name, parsed, secrets)] == fields, case


def test_parse_problems_use_camel_case_field_paths() -> None:
    """A lease relation an old API server did not enforce (no CEL) is still caught, by its YAML name."""
    _, problems = parse_spec({**BASE, "lease": {"durationSeconds": 5, "renewDeadlineSeconds": 10}})
    assert problems
    assert problems[0].field.startswith("spec.lease")
    assert (
        "renewDeadlineSeconds" in problems[0].field or "renewDeadlineSeconds" in problems[0].message
    )


@pytest.mark.parametrize(
    ("bucket", "ok"),
    [
        ("wafleet-snaps", True),
        ("a.b.c", True),
        ("ab", False),
        ("-abc", False),
        ("abc-", False),
        ("a..b", False),
        ("a.-b", False),
        ("10.0.0.1", False),
        ("xn--abc", False),
        ("bucket-s3alias", False),
        ("UPPER", False),
    ],
)
def test_bucket_names(bucket: str, ok: bool) -> None:
    assert (bucket_name_problem(bucket) is None) is ok


def test_only_key_names_are_looked_at() -> None:
    """find_problems takes key names only: there is no way to hand it a Secret value."""
    parsed, _ = parse_spec({**BASE, "snapshot": SNAP})
    assert parsed is not None
    problems = find_problems("demo", parsed, {"kek": frozenset({"nope"})})
    assert "nope" not in str(problems)


def _schema_has(schema: dict[str, Any], path: str) -> bool:
    node = schema
    for part in path.split("."):
        node = (node.get("properties") or {}).get(part)
        if node is None:
            return False
    return True


def test_every_secret_field_named_is_a_field_of_the_crd() -> None:
    """A problem's field is what a user looks for in their YAML: it must exist there."""
    parsed, _ = parse_spec({**BASE, "snapshot": {**SNAP, "credentialsSecret": CREDS}})
    assert parsed is not None
    crd = yaml.safe_load(CRD.read_text(encoding="utf-8"))
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    schema = version["schema"]["openAPIV3Schema"]
    needs = secret_needs(parsed)
    assert len(needs) == 3
    for need in needs:
        assert _schema_has(schema, need.name_field), need.name_field
        assert _schema_has(schema, need.key_field), need.key_field


def test_a_missing_key_names_the_secret_and_the_key() -> None:
    parsed, _ = parse_spec({**BASE, "snapshot": {**SNAP, "credentialsSecret": CREDS}})
    assert parsed is not None
    (problem,) = find_problems("demo", parsed, {"kek": frozenset({"key"}), "s3": frozenset({"id"})})
    assert str(problem) == (
        "spec.snapshot.credentialsSecret.secretAccessKeyKey: Secret 's3' has no key 'secret'"
    )
