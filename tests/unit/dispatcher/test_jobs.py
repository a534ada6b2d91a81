"""A delivery job keeps its event's id and body across attempts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from session_runner.dispatcher.jobs import DeliveryJob

JOB = DeliveryJob(
    webhook_id="evt_0123456789abcdef0123456789abcdef",
    namespace="shop",
    subscription="crm",
    generation=2,
    attempt=1,
    due_at=1_765_000_000.0,
    body='{"id":"evt_0123456789abcdef0123456789abcdef"}',
)


def test_a_retry_is_the_next_attempt_of_the_same_delivery() -> None:
    later = JOB.retry(JOB.due_at + 300)
    assert (later.attempt, later.due_at) == (2, JOB.due_at + 300)
    assert (later.webhook_id, later.body, later.generation) == (
        JOB.webhook_id,
        JOB.body,
        JOB.generation,
    )


def test_a_postponed_job_makes_the_same_attempt_later() -> None:
    later = JOB.postponed(JOB.due_at + 30)
    assert (later.attempt, later.due_at) == (1, JOB.due_at + 30)


def test_the_wire_form_round_trips() -> None:
    assert DeliveryJob.from_json(JOB.to_json()) == JOB
    assert JOB.subscriber_key == "shop/crm"


@pytest.mark.parametrize(
    "broken",
    [
        '{"webhook_id": "evt_1"}',
        JOB.to_json().replace('"attempt":1', '"attempt":0'),
        JOB.to_json()[:-1] + ',"extra":1}',  # an unknown field
        "not json",
    ],
)
def test_anything_else_is_refused(broken: str) -> None:
    with pytest.raises(ValidationError):
        DeliveryJob.from_json(broken)
