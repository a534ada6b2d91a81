"""Delivery jobs keep their event's id and body across attempts; an event's waiting
deliveries travel in one message."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from session_runner.dispatcher.jobs import (
    EARLY_S,
    MAX_PER_MESSAGE,
    DeliveryJob,
    WaitingDeliveries,
    bundled,
)

NOW = 1_765_000_000.0
EVENT_A = "evt_0123456789abcdef0123456789abcdef"
EVENT_B = "evt_fedcba9876543210fedcba9876543210"
JOB = DeliveryJob(
    webhook_id=EVENT_A,
    namespace="shop",
    subscription="crm",
    generation=2,
    attempt=1,
    due_at=NOW,
    body='{"id":"evt_0123456789abcdef0123456789abcdef"}',
)


def job(event: str, subscription: str, due_at: float, attempt: int = 1) -> DeliveryJob:
    return DeliveryJob(
        webhook_id=event,
        namespace="shop",
        subscription=subscription,
        generation=1,
        attempt=attempt,
        due_at=due_at,
        body=f'{{"id":"{event}"}}',
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
    assert JOB.subscriber_key == "shop/crm"


def test_an_events_jobs_travel_in_one_message_and_come_back_as_they_went() -> None:
    jobs = [
        job(EVENT_A, "crm", NOW + 30),
        job(EVENT_B, "crm", NOW + 5, attempt=2),
        job(EVENT_A, "erp", NOW + 40, attempt=3),
    ]
    messages = bundled(jobs)
    assert [m.webhook_id for m in messages] == [EVENT_A, EVENT_B]
    assert messages[0].due_at == NOW + 30  # the earliest of its deliveries
    back = [WaitingDeliveries.from_json(m.to_json()) for m in messages]
    assert [j for m in back for j in m.jobs()] == [jobs[0], jobs[2], jobs[1]]


def test_a_message_holds_at_most_its_share_of_deliveries() -> None:
    many = [job(EVENT_A, f"s{n}", NOW) for n in range(MAX_PER_MESSAGE * 2 + 1)]
    sizes = [len(m.deliveries) for m in bundled(many)]
    assert sizes == [MAX_PER_MESSAGE, MAX_PER_MESSAGE, 1]


@pytest.mark.parametrize(
    ("offsets", "due", "waiting"),
    [
        pytest.param([0.0, 30.0], ["s0"], ["s1"], id="one due, one later"),
        pytest.param([-5.0, EARLY_S], ["s0", "s1"], [], id="due within EARLY_S: made now"),
        pytest.param([EARLY_S + 0.1], [], ["s0"], id="a hold cut at 900 s: none due yet"),
    ],
)
def test_split_into_due_and_waiting(
    offsets: list[float], due: list[str], waiting: list[str]
) -> None:
    [message] = bundled(job(EVENT_A, f"s{n}", NOW + o) for n, o in enumerate(offsets))
    now_jobs, later_jobs = message.split(NOW)
    assert [j.subscription for j in now_jobs] == due
    assert [j.subscription for j in later_jobs] == waiting


@pytest.mark.parametrize(
    "broken",
    [
        '{"webhook_id": "evt_1"}',
        bundled([JOB])[0].to_json().replace('"attempt":1', '"attempt":0'),
        bundled([JOB])[0].to_json()[:-1] + ',"extra":1}',  # an unknown field
        json.dumps({"webhook_id": EVENT_A, "body": "{}", "deliveries": []}),  # none waiting
        "not json",
    ],
)
def test_anything_else_is_refused(broken: str) -> None:
    with pytest.raises(ValidationError):
        WaitingDeliveries.from_json(broken)
