"""Table test of what the operator finds wrong in a spec the schema accepted."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from session_runner.contract.keyrule import kek_length_problem
from wafleet_operator.api.quantity import exceeds, parse_quantity
from wafleet_operator.api.whatsapp_account import (
    MAX_ACCOUNT_NAME_LENGTH,
    MAX_KEEP_WITHIN_HOURS,
    account_name_problem,
)
from wafleet_operator.config import OperatorSettings
from wafleet_operator.specs import naming
from wafleet_operator.validation import (
    bucket_name_problem,
    find_problems,
    image_allowed,
    image_problem,
    kek_problems,
    parse_spec,
    secret_needs,
)

CRD = Path(__file__).resolve().parents[2] / "crds" / "whatsappaccounts.wafleet.io.yaml"

BASE: dict[str, Any] = {"phoneNumber": "+14155550100", "engine": "local"}
SNAP = {"bucket": "wafleet-snaps", "encryptionKeySecret": {"name": "kek"}}
CREDS = {"name": "s3", "accessKeyIdKey": "id", "secretAccessKeyKey": "secret"}
ALL_SECRETS = {"kek": frozenset({"key"}), "s3": frozenset({"id", "secret"})}
RUNNER = "wafleet/runner:0.1.0"
ALLOWED = frozenset({RUNNER, "registry.example/wafleet/*"})

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
    ("name with a dot", "sales.eu", BASE, {}, ["metadata.name"]),
    ("name with upper case", "Sales", BASE, {}, ["metadata.name"]),
    ("name ending in a hyphen", "sales-", BASE, {}, ["metadata.name"]),
    ("name starting with a digit", "2fa", BASE, {}, []),
    ("the runner image", "demo", {**BASE, "image": RUNNER}, {}, []),
    (
        "an image under an allowed prefix",
        "demo",
        {**BASE, "image": "registry.example/wafleet/r:1"},
        {},
        [],
    ),
    (
        "an image not allowed",
        "demo",
        {**BASE, "image": "evil.example/runner:1"},
        {},
        ["spec.image"],
    ),
    (
        "another tag of the runner",
        "demo",
        {**BASE, "image": "wafleet/runner:9"},
        {},
        ["spec.image"],
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
    problems = find_problems(name, parsed, secrets, allowed_images=ALLOWED)
    assert [p.field for p in problems] == fields, case


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
    problems = find_problems("demo", parsed, {"kek": frozenset({"nope"})}, allowed_images=ALLOWED)
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
    (problem,) = find_problems(
        "demo", parsed, {"kek": frozenset({"key"}), "s3": frozenset({"id"})}, allowed_images=ALLOWED
    )
    assert str(problem) == (
        "spec.snapshot.credentialsSecret.secretAccessKeyKey: Secret 's3' has no key 'secret'"
    )


# ---------------------------------------------------------------- the key-encryption key

KEY = bytes(range(32))
B64 = base64.b64encode


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (KEY, True),
        (B64(KEY), True),
        (base64.urlsafe_b64encode(b"\xff" * 32), True),
        (B64(KEY).rstrip(b"="), True),
        (B64(KEY) + b"\n", True),  # `head -c 32 /dev/urandom | base64 > key`
        (b"", False),
        (KEY[:31], False),
        (KEY + b"!", False),
        (B64(KEY[:31]), False),
        (B64(KEY + b"!"), False),
        (b"kek-0123456789abcdef0123456789abcd", False),  # 34 characters of text
        (b"not base64 at all, and long enough to be anything", False),
    ],
)
def test_kek_rule_is_the_runners(value: bytes, ok: bool) -> None:
    """One rule: what the operator accepts is exactly what the runner's parse_kek loads."""
    from session_runner.session.snapshot.crypto import KeyRingError, parse_kek

    assert (kek_length_problem(value) is None) is ok
    try:
        parse_kek(value)
    except KeyRingError:
        runner_ok = False
    else:
        runner_ok = True
    assert runner_ok is ok


def test_kek_problem_gives_the_length_never_the_value() -> None:
    value = b"kek-ThisValueMustNeverBeShown"
    problem = kek_length_problem(value)
    assert problem is not None
    assert f"holds {len(value)} bytes" in problem
    assert "ThisValue" not in problem
    assert B64(value).decode() not in problem


def _data(**values: bytes) -> dict[str, str]:
    """A Secret's data as the API returns it."""
    return {name.replace("_", "."): B64(value).decode() for name, value in values.items()}


@pytest.mark.parametrize(
    ("data", "key", "bad"),
    [
        (_data(key=KEY), "key", []),
        (_data(key=B64(KEY)), "key", []),
        (_data(key=KEY[:16]), "key", ["key"]),
        (_data(key=KEY, key_1=B64(KEY), key_2=KEY), "key", []),
        (_data(key=KEY, key_1=KEY[:16]), "key", ["key.1"]),
        (_data(key=KEY[:1], key_1=KEY, key_2=b"x" * 33), "key", ["key", "key.2"]),
        (_data(key=KEY, keyring=b"x", other=b"y"), "key", []),  # not the key, not retired
        (_data(kek=KEY, kek_old=b"x"), "kek", ["kek.old"]),  # any suffix, as the runner globs
        ({"key": "%%% not base64 %%%"}, "key", ["key"]),
    ],
)
def test_kek_problems_of_a_secret(data: dict[str, str], key: str, bad: list[str]) -> None:
    """The key and every retired `<key>.<suffix>` beside it must be a key."""
    assert sorted(kek_problems(data, key)) == bad


def test_a_bad_kek_is_a_problem_at_the_key_field_naming_the_key_not_the_value() -> None:
    parsed, _ = parse_spec({**BASE, "snapshot": SNAP})
    assert parsed is not None
    value = b"kek-ThisValueMustNeverBeShown"
    bad = kek_problems(_data(key=KEY, key_1=value), "key")
    (problem,) = find_problems("demo", parsed, ALL_SECRETS, allowed_images=ALLOWED, bad_keks=bad)
    assert problem.field == "spec.snapshot.encryptionKeySecret.key"
    assert "Secret 'kek' key 'key.1' is not a key-encryption key" in problem.message
    assert "32 raw bytes" in problem.message
    assert "ThisValue" not in str(problem)
    assert B64(value).decode() not in str(problem)


# ---------------------------------------------------------------- the image allow-list


@pytest.mark.parametrize(
    ("image", "allow_list", "ok"),
    [
        ("wafleet/runner:0.1.0", ["wafleet/runner:0.1.0"], True),
        ("wafleet/runner:0.1.1", ["wafleet/runner:0.1.0"], False),
        ("wafleet/runner:0.1.0@sha256:ab", ["wafleet/runner:0.1.0"], False),
        ("registry.example/wafleet/runner:2", ["registry.example/wafleet/*"], True),
        ("registry.example/other:2", ["registry.example/wafleet/*"], False),
        ("anything", ["*"], True),
        ("anything", [], False),
    ],
)
def test_image_allow_list(image: str, allow_list: list[str], ok: bool) -> None:
    assert image_allowed(image, allow_list) is ok
    assert (image_problem(image, allow_list) is None) is ok


def test_no_image_needs_no_allow_list() -> None:
    assert image_problem(None, []) is None


def test_an_image_problem_names_the_image_and_the_setting() -> None:
    problem = image_problem("evil.example/runner:1", [RUNNER])
    assert problem is not None
    assert "'evil.example/runner:1'" in problem
    assert RUNNER in problem
    assert "WAFLEET_RUNNER_IMAGE_ALLOW_LIST" in problem


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({}, {"wafleet/runner:0.1.0"}),
        ({"WAFLEET_RUNNER_IMAGE": "r:1"}, {"r:1"}),
        (
            {"WAFLEET_RUNNER_IMAGE": "r:1", "WAFLEET_RUNNER_IMAGE_ALLOW_LIST": " m/r:2 , m/x/* ,"},
            {"r:1", "m/r:2", "m/x/*"},
        ),
    ],
)
def test_the_allow_list_setting_defaults_to_the_runner_image_only(
    env: dict[str, str], allowed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("WAFLEET_RUNNER_IMAGE", "WAFLEET_RUNNER_IMAGE_ALLOW_LIST"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert OperatorSettings().allowed_runner_images == allowed


# ---------------------------------------------------------------- names, regions, retention


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("demo", True),
        ("sales-eu", True),
        ("2fa", True),
        ("a", True),
        ("n" * 48, True),
        ("n" * 49, False),
        ("sales.eu", False),
        ("Sales", False),
        ("-sales", False),
        ("sales-", False),
        ("sales_eu", False),
    ],
)
def test_account_names(name: str, ok: bool) -> None:
    assert (account_name_problem(name) is None) is ok


def test_the_account_name_limit_is_the_one_child_names_need() -> None:
    assert MAX_ACCOUNT_NAME_LENGTH == naming.MAX_ACCOUNT_NAME_LENGTH


REGIONS = [
    "us-east-1",
    "eu-west-3",
    "minio",
    "garage",
    "auto",
    "us-west-004",
    "nyc3",
    "1-2",
    "a" * 63,
    "eu west 1",
    "eu_west_1",
    "123",
    "-eu",
    "eu-",
    "eu--west",
    "",
    "a" * 64,
]


@pytest.mark.parametrize("region", REGIONS)
def test_a_region_the_schema_allows_is_one_botocore_accepts(region: str) -> None:
    """The runner's S3 client refuses a region that is not a host label: the schema must
    refuse it first (it is stricter: lower case, no double hyphen)."""
    from botocore.exceptions import InvalidRegionError
    from botocore.utils import validate_region_name

    spec = {**BASE, "snapshot": {**SNAP, "region": region}}
    parsed, _ = parse_spec(spec)
    if parsed is None:
        return
    try:
        validate_region_name(region)
    except InvalidRegionError:
        pytest.fail(f"the schema allows {region!r}, which botocore refuses")


def test_regions_refused() -> None:
    refused = {
        r for r in REGIONS if parse_spec({**BASE, "snapshot": {**SNAP, "region": r}})[0] is None
    }
    assert refused == {"eu west 1", "eu_west_1", "123", "-eu", "eu-", "eu--west", "", "a" * 64}


@pytest.mark.parametrize(
    ("hours", "ok"), [(0, True), (87600, True), (87601, False), (10**11, False)]
)
def test_keep_within_hours_is_bounded_below_the_runners_overflow(hours: int, ok: bool) -> None:
    """The runner computes `now - timedelta(hours=h)`: the bound must stay far below where
    that overflows (about 17.5 million hours back from today)."""
    from datetime import UTC, datetime, timedelta

    spec = {**BASE, "snapshot": {**SNAP, "retention": {"keepWithinHours": hours}}}
    parsed, problems = parse_spec(spec)
    assert (parsed is not None) is ok
    if not ok:
        assert [p.field for p in problems] == ["spec.snapshot.retention.keepWithinHours"]
    assert datetime.now(UTC) - timedelta(hours=MAX_KEEP_WITHIN_HOURS) > datetime(
        1, 1, 1, tzinfo=UTC
    )


# ---------------------------------------------------------------- resources


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2, "2"),
        ("500m", "0.5"),
        ("1Gi", str(2**30)),
        ("1.5Ki", "1536"),
        ("1e3", "1000"),
        ("1E3", "1000"),
        ("1E", str(10**18)),
        ("1e-3", "0.001"),
        ("100n", "1E-7"),
        ("+1", "1"),
        (".5", "0.5"),
        ("1.", "1"),
        ("0.0000000001", "1E-9"),  # rounded up to nano units, as resource.Quantity does
        ("lots", None),
        ("1e1.5", None),
        ("1Kb", None),
        ("1e9999999999", None),
    ],
)
def test_parse_quantity(value: int | str, expected: str | None) -> None:
    parsed = parse_quantity(value)
    assert (parsed if parsed is None else parsed.normalize()) == (
        None if expected is None else Decimal(expected).normalize()
    )


@pytest.mark.parametrize(
    ("request_", "limit", "over"),
    [
        ("2", "500m", True),
        (2, "1500m", True),
        ("1Gi", "512Mi", True),
        ("1.1G", "1Gi", True),
        ("1e9", "1Gi", False),
        ("1Gi", "1024Mi", False),
        (None, "1", False),
        ("1", None, False),
        ("lots", "1", False),  # the pattern reports it
    ],
)
def test_exceeds(request_: int | str | None, limit: int | str | None, over: bool) -> None:
    assert exceeds(request_, limit) is over


@pytest.mark.parametrize(
    ("resources", "fields"),
    [
        ({"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}, ["spec.resources.requests.cpu"]),
        (
            {"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}},
            ["spec.resources.requests.memory"],
        ),
        ({"requests": {"cpu": "-1"}}, ["spec.resources.requests.cpu"]),
        ({"limits": {"memory": -1}}, ["spec.resources.limits.memory"]),
        ({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}, []),
    ],
)
def test_resource_problems_name_the_field(resources: dict[str, Any], fields: list[str]) -> None:
    """The operator's second line: a spec the server should have refused is a problem
    at the field a user must fix, so nothing is applied (the StatefulSet would be refused
    after the account's other children)."""
    parsed, problems = parse_spec({**BASE, "resources": resources})
    assert [p.field for p in problems] == fields
    assert (parsed is None) is bool(fields)
