"""The pure half of a pool's AWS resources: names, policies, ownership."""

from __future__ import annotations

import json
import re

import pytest

from wafleet_operator.outbound.resources import (
    POOL_UID_TAG,
    SQS_NAME_MAX,
    Owner,
    dead_letter_queue_name,
    filter_policy,
    queue_name,
    queue_owner,
    redrive_policy,
)

SQS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


@pytest.mark.parametrize(
    ("case", "namespace", "pool", "expected"),
    [
        ("short names read as they are", "shop", "twilio-us", "wafleet-shop-twilio-us"),
        (
            "76 characters (80 with -dlq) stay whole",
            "n" * 20,
            "p" * 47,
            f"wafleet-{'n' * 20}-{'p' * 47}",
        ),
    ],
)
def test_queue_names(case: str, namespace: str, pool: str, expected: str) -> None:
    assert queue_name("wafleet", namespace, pool) == expected, case


def test_long_names_are_shortened_with_a_hash_and_stay_distinct() -> None:
    a = queue_name("wafleet", "n" * 63, "pool-" + "a" * 58)
    b = queue_name("wafleet", "n" * 63, "pool-" + "b" * 58)
    assert a != b
    for name in (a, b):
        assert SQS_NAME.match(dead_letter_queue_name(name))
        assert len(dead_letter_queue_name(name)) <= SQS_NAME_MAX


@pytest.mark.parametrize(
    ("case", "exists", "tags", "owner"),
    [
        ("no queue", False, None, Owner.MISSING),
        ("tagged with our uid", True, {POOL_UID_TAG: "uid-1"}, Owner.OURS),
        (
            "tagged with another uid (a re-created pool)",
            True,
            {POOL_UID_TAG: "uid-0"},
            Owner.FOREIGN,
        ),
        ("untagged: someone else made it", True, None, Owner.FOREIGN),
        ("other tags only", True, {"team": "growth"}, Owner.FOREIGN),
    ],
)
def test_queue_owner(case: str, exists: bool, tags: dict[str, str] | None, owner: Owner) -> None:
    assert queue_owner(exists, tags, "uid-1") is owner, case


def test_policies_are_the_json_sqs_and_sns_expect() -> None:
    assert json.loads(filter_policy("meta-eu")) == {"target": ["meta-eu"]}
    assert json.loads(redrive_policy("arn:aws:sqs:us-east-1:1:q-dlq", 5)) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:q-dlq",
        "maxReceiveCount": 5,
    }
