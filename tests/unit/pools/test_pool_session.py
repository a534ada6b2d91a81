"""A session pool hands its queue to the account's runner through one annotation."""

from __future__ import annotations

from typing import Any

import pytest

from session_runner.contract.session_outbound import OUTBOUND_ANNOTATION, wiring_from_annotations
from wafleet_operator.api.sender_pool import SenderPoolSpec
from wafleet_operator.config import OperatorSettings
from wafleet_operator.pools.session import account_not_sending, session_wiring, wiring_patch

SPEC = SenderPoolSpec.model_validate(
    {
        "vendor": "session",
        "target": "alice",
        "accountRef": {"name": "alice"},
        "rateLimitPerSecond": 2,
        "concurrency": 3,
        "queue": {"maxReceiveCount": 7, "visibilityTimeoutSeconds": 90},
    }
)
SETTINGS = OperatorSettings(aws_endpoint_url="http://127.0.0.1:5000", aws_region="eu-west-1")
QUEUE = "http://127.0.0.1:5000/1/q"
DLQ = "http://127.0.0.1:5000/1/q-dlq"
MINE = session_wiring("alice-pool", SPEC, SETTINGS, queue_url=QUEUE, dead_letter_queue_url=DLQ)
THEIRS = MINE.model_copy(update={"pool": "someone-else"})


def test_the_wiring_carries_the_pools_queues_limits_and_the_operators_aws() -> None:
    assert (MINE.queue_url, MINE.dead_letter_queue_url) == (QUEUE, DLQ)
    assert (MINE.rate_limit_per_second, MINE.concurrency) == (2, 3)
    assert (MINE.max_receive_count, MINE.visibility_timeout_seconds) == (7, 90)
    assert (MINE.aws_region, MINE.aws_endpoint_url) == ("eu-west-1", "http://127.0.0.1:5000")
    assert MINE.ledger_table == SETTINGS.outbound_ledger_table


@pytest.mark.parametrize(
    ("case", "current", "wanted", "patch"),
    [
        ("first wiring", None, MINE, {OUTBOUND_ANNOTATION: MINE.to_annotation()}),
        ("already there: no write", MINE.to_annotation(), MINE, None),
        (
            "changed (a new rate): rewritten",
            THEIRS.to_annotation(),
            MINE,
            {OUTBOUND_ANNOTATION: MINE.to_annotation()},
        ),
        ("removal of ours", MINE.to_annotation(), None, {OUTBOUND_ANNOTATION: None}),
        ("removal, nothing there", None, None, None),
        ("removal never takes another pool's wiring", THEIRS.to_annotation(), None, None),
        ("removal leaves a garbled value for a person to look at", "{oops", None, None),
    ],
)
def test_wiring_patch(case: str, current: str | None, wanted: Any, patch: Any) -> None:
    annotations = {"other": "kept"} if current is None else {OUTBOUND_ANNOTATION: current}
    assert wiring_patch(annotations, "alice-pool", wanted) == patch, case


def test_what_the_runner_reads_is_what_the_operator_wrote() -> None:
    patch = wiring_patch({}, "alice-pool", MINE)
    assert patch is not None
    value = patch[OUTBOUND_ANNOTATION]
    assert value is not None
    assert wiring_from_annotations({OUTBOUND_ANNOTATION: value}) == (MINE, None)


@pytest.mark.parametrize(
    ("status", "problem"),
    [
        ({"phase": "Connected"}, None),
        ({"phase": "AwaitingLogin"}, "WhatsAppAccount alice is AwaitingLogin"),
        ({"phase": "Fenced"}, "WhatsAppAccount alice is Fenced"),
        (None, "WhatsAppAccount alice is not started"),
    ],
)
def test_an_account_sends_only_while_connected(
    status: dict[str, str] | None, problem: str | None
) -> None:
    account: dict[str, Any] = {"metadata": {"name": "alice"}}
    if status is not None:
        account["status"] = status
    found = account_not_sending(account)
    assert found is None if problem is None else (found or "").startswith(problem)
    if found is not None:
        assert "messages stay queued" in found
