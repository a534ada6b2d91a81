"""Table test of what the operator finds wrong in a spec the schema accepted."""

from __future__ import annotations

from typing import Any

import pytest

from wafleet_operator.validation import bucket_name_problem, find_problems, parse_spec

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
        ["spec.snapshot.encryptionKeySecret"],
    ),
    (
        "credentials Secret missing",
        "demo",
        {**BASE, "snapshot": {**SNAP, "credentialsSecret": CREDS}},
        {"kek": frozenset({"key"})},
        ["spec.snapshot.credentialsSecret.name"],
    ),
    (
        "one credential key missing",
        "demo",
        {**BASE, "snapshot": {**SNAP, "credentialsSecret": CREDS}},
        {"kek": frozenset({"key"}), "s3": frozenset({"id"})},
        ["spec.snapshot.credentialsSecret"],
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
