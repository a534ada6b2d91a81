"""The tally's one transaction per (row, outcome), and the bulk settings' rules."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from session_runner.bulk.tally import (
    Outcome,
    counts_from_item,
    implied_outcomes,
    marker_key,
    tally_request,
)
from session_runner.contract.bulk_settings import BulkSettings
from session_runner.session.engines.events import AckStatus


@pytest.mark.parametrize(
    ("message_id", "outcome", "expected"),
    [
        ("bulk-0123456789ab:1", Outcome.SENT, "bulk-tally#bulk-0123456789ab:1#sent"),
        ("bulk-0123456789ab:500000", Outcome.READ, "bulk-tally#bulk-0123456789ab:500000#read"),
    ],
)
def test_marker_keys(message_id: str, outcome: Outcome, expected: str) -> None:
    assert marker_key(message_id, outcome) == expected


def test_one_transaction_puts_the_marker_if_absent_and_counts_on_the_jobs_progress() -> None:
    request = tally_request("ledger", "bulk-0123456789ab:3", "bulk-0123456789ab", Outcome.DELIVERED)
    put, update = (item for entry in request["TransactItems"] for item in entry.values())
    assert put["TableName"] == update["TableName"] == "ledger"
    assert put["Item"] == {"id": {"S": "bulk-tally#bulk-0123456789ab:3#delivered"}}
    assert put["ConditionExpression"] == "attribute_not_exists(id)"
    assert update["Key"] == {"id": {"S": "bulk-progress#bulk-0123456789ab"}}
    assert update["UpdateExpression"] == "ADD #outcome :one"
    assert update["ExpressionAttributeNames"] == {"#outcome": "delivered"}


@pytest.mark.parametrize(
    ("status", "outcomes"),
    [
        (AckStatus.SENT, ("sent",)),
        (AckStatus.DELIVERED, ("sent", "delivered")),
        (AckStatus.READ, ("sent", "delivered", "read")),
        (AckStatus.PLAYED, ("sent", "delivered", "read")),
        (AckStatus.FAILED, ("failed",)),
    ],
)
def test_a_status_implies_every_outcome_before_it(
    status: AckStatus, outcomes: tuple[str, ...]
) -> None:
    assert tuple(o.value for o in implied_outcomes(status)) == outcomes


@pytest.mark.parametrize(
    ("item", "counts"),
    [
        (None, {"sent": 0, "delivered": 0, "read": 0, "failed": 0}),
        (
            {"sent": {"N": "3"}, "read": {"N": "1"}},
            {"sent": 3, "delivered": 0, "read": 1, "failed": 0},
        ),
    ],
)
def test_counts_from_the_progress_item(item: dict[str, Any] | None, counts: dict[str, int]) -> None:
    assert counts_from_item(item) == counts


BASE: dict[str, Any] = {"bucket": "bulk-bucket", "topic_arn": "arn:aws:sns:us-east-1:1:out"}


def test_settings_round_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = BulkSettings(**BASE, url_buckets="a, b,", lock_seconds=4, heartbeat_seconds=1)
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    assert BulkSettings() == settings
    assert settings.readable_buckets() == frozenset({"bulk-bucket", "a", "b"})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lock_seconds": 10, "heartbeat_seconds": 6}, "heartbeat_seconds"),
        ({"upload_part_bytes": 1024}, "upload_part_bytes"),
        ({"publish_concurrency": 0}, "publish_concurrency"),
        ({"bucket": ""}, "bucket"),
    ],
)
def test_bad_settings_are_refused_naming_them(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        BulkSettings(**{**BASE, **overrides})
