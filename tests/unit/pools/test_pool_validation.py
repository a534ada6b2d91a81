"""`pool_problems` and `target_owner`: what a SenderPool's schema cannot reject."""

from __future__ import annotations

from typing import Any

import pytest

from wafleet_operator.api.sender_pool import AwsCredentialsSecretRef, SenderPoolSpec, Vendor
from wafleet_operator.pools.validation import (
    TargetClaim,
    aws_credentials_problems,
    pool_problems,
    target_owner,
)

ME = TargetClaim("2026-12-01T10:00:00Z", "shop", "twilio-us")
OLDER = TargetClaim("2026-11-01T10:00:00Z", "other", "twilio-us-too")
YOUNGER = TargetClaim("2026-12-02T10:00:00Z", "other", "late")

TWILIO: dict[str, Any] = {
    "vendor": "twilio",
    "target": "twilio-us",
    "credentialsSecret": {"name": "twilio-creds"},
}
SESSION: dict[str, Any] = {"vendor": "session", "target": "own", "accountRef": {"name": "demo"}}
TWILIO_OFF_EKS: dict[str, Any] = {**TWILIO, "awsCredentialsSecret": {"name": "aws-keys"}}
AWS_KEYS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def problems(spec: dict[str, Any], **facts: Any) -> list[tuple[str, str]]:
    defaults: dict[str, Any] = {
        "secret_keys": {"accountSid", "authToken"},
        "aws_secret_keys": None,
        "target_claims": [ME],
        "account_exists": None,
        "image_problem": None,
        "name_problem": None,
    }
    found = pool_problems(ME, SenderPoolSpec.model_validate(spec), **{**defaults, **facts})
    return [(p.field, p.message) for p in found]


@pytest.mark.parametrize(
    ("case", "spec", "facts", "fields"),
    [
        ("all good", TWILIO, {}, []),
        ("Secret missing", TWILIO, {"secret_keys": None}, ["spec.credentialsSecret.name"]),
        ("Secret lacks a key", TWILIO, {"secret_keys": {"accountSid"}}, ["spec.credentialsSecret"]),
        (
            "an older pool routes the target",
            TWILIO,
            {"target_claims": [ME, OLDER]},
            ["spec.target"],
        ),
        (
            "a younger pool with our target is its problem",
            TWILIO,
            {"target_claims": [YOUNGER, ME]},
            [],
        ),
        ("session pool, account exists", SESSION, {"account_exists": True}, []),
        (
            "session pool, account missing",
            SESSION,
            {"account_exists": False},
            ["spec.accountRef.name"],
        ),
        (
            "an older session pool sends through the account",
            SESSION,
            {"account_exists": True, "account_claims": [OLDER, ME]},
            ["spec.accountRef.name"],
        ),
        (
            "a younger session pool naming our account is its problem",
            SESSION,
            {"account_exists": True, "account_claims": [ME, YOUNGER]},
            [],
        ),
        ("AWS keys Secret with both keys", TWILIO_OFF_EKS, {"aws_secret_keys": AWS_KEYS}, []),
        (
            "AWS keys Secret missing",
            TWILIO_OFF_EKS,
            {"aws_secret_keys": None},
            ["spec.awsCredentialsSecret.name"],
        ),
        (
            "AWS keys Secret lacks the secret access key",
            TWILIO_OFF_EKS,
            {"aws_secret_keys": {"AWS_ACCESS_KEY_ID"}},
            ["spec.awsCredentialsSecret"],
        ),
        (
            "no AWS keys Secret named: nothing read, nothing to check",
            TWILIO,
            {"aws_secret_keys": None},
            [],
        ),
        (
            "one Secret for the vendor's and the AWS keys",
            {**TWILIO, "awsCredentialsSecret": {"name": "twilio-creds"}},
            {"secret_keys": {"accountSid", "authToken", *AWS_KEYS}, "aws_secret_keys": AWS_KEYS},
            [],
        ),
        (
            "a session pool names AWS keys it would never use (its account's runner sends)",
            {**SESSION, "awsCredentialsSecret": {"name": "aws-keys"}},
            {"account_exists": True, "aws_secret_keys": AWS_KEYS},
            ["spec.awsCredentialsSecret"],
        ),
        ("image refused", TWILIO, {"image_problem": "not allowed"}, ["spec.image"]),
        ("name too long", TWILIO, {"name_problem": "at most 60"}, ["metadata.name"]),
        (
            "every problem at once",
            TWILIO_OFF_EKS,
            {"secret_keys": None, "target_claims": [OLDER, ME], "image_problem": "no"},
            [
                "spec.credentialsSecret.name",
                "spec.awsCredentialsSecret.name",
                "spec.target",
                "spec.image",
            ],
        ),
    ],
)
def test_pool_problems(
    case: str, spec: dict[str, Any], facts: dict[str, Any], fields: list[str]
) -> None:
    assert [field for field, _ in problems(spec, **facts)] == fields, case


def test_a_missing_key_is_named_and_no_value_is_needed() -> None:
    [(_, message)] = problems(TWILIO, secret_keys={"accountSid"})
    assert "authToken" in message
    assert "twilio" in message


@pytest.mark.parametrize(
    ("ref", "keys", "expected"),
    [
        pytest.param({"name": "aws"}, AWS_KEYS, [], id="default key names present"),
        pytest.param(
            {"name": "aws"},
            None,
            [("spec.awsCredentialsSecret.name", "Secret aws not found")],
            id="no such Secret",
        ),
        pytest.param(
            {"name": "aws"},
            set(),
            [
                (
                    "spec.awsCredentialsSecret",
                    "Secret aws lacks key(s) AWS_ACCESS_KEY_ID (the accessKeyIdKey), "
                    "AWS_SECRET_ACCESS_KEY (the secretAccessKeyKey)",
                )
            ],
            id="an empty Secret: both keys named",
        ),
        pytest.param(
            {"name": "aws", "accessKeyIdKey": "id", "secretAccessKeyKey": "secret"},
            {"id", "secret"},
            [],
            id="own key names present",
        ),
        pytest.param(
            {"name": "aws", "accessKeyIdKey": "id", "secretAccessKeyKey": "secret"},
            AWS_KEYS | {"id"},
            [
                (
                    "spec.awsCredentialsSecret",
                    "Secret aws lacks key(s) secret (the secretAccessKeyKey)",
                )
            ],
            id="own key names: the default names do not stand in",
        ),
        pytest.param(None, None, [], id="not named: ambient credentials"),
    ],
)
def test_aws_credentials_problems(
    ref: dict[str, str] | None, keys: set[str] | None, expected: list[tuple[str, str]]
) -> None:
    parsed = None if ref is None else AwsCredentialsSecretRef.model_validate(ref)
    found = aws_credentials_problems(Vendor.TWILIO, parsed, keys)
    assert [(p.field, p.message) for p in found] == expected


def test_the_oldest_claim_routes_a_target_and_ties_go_by_name() -> None:
    assert target_owner([YOUNGER, ME, OLDER]) == OLDER
    tie_a = TargetClaim("2026-12-01T10:00:00Z", "a", "p")
    tie_b = TargetClaim("2026-12-01T10:00:00Z", "b", "p")
    assert target_owner([tie_b, tie_a]) == tie_a
    assert target_owner([]) is None
