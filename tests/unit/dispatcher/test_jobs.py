"""Delivery jobs keep their event's id and body across attempts; an event's waiting
deliveries travel in one message."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from session_runner.dispatcher.breaker import Breaker, comes_back_at
from session_runner.dispatcher.jobs import (
    EARLY_S,
    MAX_EVENTS_PER_MESSAGE,
    MAX_MESSAGE_BYTES,
    MAX_PER_MESSAGE,
    DeliveryJob,
    Waiting,
    WaitingBatch,
    WaitingDeliveries,
    bundled,
    latest_start,
    packed,
    read_waiting,
    spread_draw,
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
        job(EVENT_A, "erp", NOW + 37, attempt=3),
    ]
    messages = bundled(jobs, NOW)
    assert [m.webhook_id for m in messages] == [EVENT_A, EVENT_B]
    assert messages[0].wakes_at == NOW + 37  # 30 s away, it may wait 7.5 s more: both in one
    back = [WaitingDeliveries.from_json(m.to_json()) for m in messages]
    assert [j for m in back for j in m.jobs()] == [jobs[0], jobs[2], jobs[1]]


@pytest.mark.parametrize(
    ("offsets", "groups"),
    [
        pytest.param([0.0, 0.5, 1.0], [[0.0, 0.5, 1.0]], id="due now: within a second together"),
        pytest.param([0.0, 1.5], [[0.0], [1.5]], id="due now and later: apart"),
        pytest.param([30.0, 37.5], [[30.0, 37.5]], id="30 s away: up to 7.5 s late"),
        pytest.param([30.0, 38.0], [[30.0], [38.0]], id="more than a quarter late: apart"),
        pytest.param(
            [900.0, 1000.0, 1100.0, 1130.0],
            [[900.0, 1000.0, 1100.0], [1130.0]],
            id="the earliest of a group bounds it",
        ),
        pytest.param([45.0, 31.0, 33.0], [[31.0, 33.0], [45.0]], id="in order of due time"),
    ],
)
def test_deliveries_due_at_about_the_same_time_share_a_message(
    offsets: list[float], groups: list[list[float]]
) -> None:
    jobs = [job(EVENT_A, f"s{n}", NOW + o) for n, o in enumerate(offsets)]
    got = [[w.due_at - NOW for w in m.deliveries] for m in bundled(jobs, NOW)]
    assert got == groups
    for message in bundled(jobs, NOW):  # none is made later than it may be
        assert all(message.wakes_at <= latest_start(w.due_at, NOW) for w in message.deliveries)


def test_a_message_holds_at_most_its_share_of_deliveries() -> None:
    many = [job(EVENT_A, f"s{n}", NOW) for n in range(MAX_PER_MESSAGE * 2 + 1)]
    sizes = [len(m.deliveries) for m in bundled(many, NOW)]
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
    message = WaitingDeliveries(
        webhook_id=EVENT_A,
        body="{}",
        deliveries=[
            Waiting(namespace="shop", subscription=f"s{n}", generation=1, attempt=1, due_at=NOW + o)
            for n, o in enumerate(offsets)
        ],
    )
    now_jobs, later_jobs = message.split(NOW)
    assert [j.subscription for j in now_jobs] == due
    assert [j.subscription for j in later_jobs] == waiting


@pytest.mark.parametrize(
    "broken",
    [
        '{"webhook_id": "evt_1"}',
        bundled([JOB], NOW)[0].to_json().replace('"attempt":1', '"attempt":0'),
        bundled([JOB], NOW)[0].to_json()[:-1] + ',"extra":1}',  # an unknown field
        json.dumps({"webhook_id": EVENT_A, "body": "{}", "deliveries": []}),  # none waiting
        "not json",
    ],
)
def test_anything_else_is_refused(broken: str) -> None:
    with pytest.raises(ValidationError):
        WaitingDeliveries.from_json(broken)


def test_one_events_deliveries_held_by_breakers_that_opened_together_share_a_message() -> None:
    """Ten subscribers down together: one event's ten held-back deliveries come back at one
    point of the spread, so they travel in one message; other events fall elsewhere."""
    breakers = [Breaker(5, NOW + 30 + n * 0.01, False, 1) for n in range(10)]
    held = [
        job(EVENT_A, f"dead-{n}", comes_back_at(b, NOW, spread_draw(EVENT_A)))
        for n, b in enumerate(breakers)
    ]
    assert len(bundled(held, NOW)) == 1


def test_events_spread_evenly_and_each_always_falls_at_the_same_point() -> None:
    ids = [f"evt_{n:032x}" for n in range(2000)]
    draws = [spread_draw(webhook_id) for webhook_id in ids]
    assert all(0.0 <= draw < 1.0 for draw in draws)
    assert draws == [spread_draw(webhook_id) for webhook_id in ids]  # stable, not random
    tenths = [sum(1 for draw in draws if n / 10 <= draw < (n + 1) / 10) for n in range(10)]
    assert all(150 <= count <= 250 for count in tenths), tenths


def event_id(n: int) -> str:
    return f"evt_{n:032x}"


def test_events_waking_at_about_the_same_time_share_a_message() -> None:
    offsets = [30.0, 31.0, 36.0, 45.0, 5.0]  # 30 s away: up to 7.5 s late
    groups = bundled([job(event_id(n), "crm", NOW + o) for n, o in enumerate(offsets)], NOW)
    assert packed(groups, NOW) == [[4], [0, 1, 2], [3]]  # by wake time; none woken too late


def test_a_message_holds_at_most_its_share_of_events_and_bytes() -> None:
    many = bundled([job(event_id(n), "crm", NOW + 60) for n in range(120)], NOW)
    assert [len(m) for m in packed(many, NOW)] == [MAX_EVENTS_PER_MESSAGE] * 2 + [20]
    big_body = '{"id":"x","text":"' + "a" * 60_000 + '"}'
    big = [
        WaitingDeliveries(
            webhook_id=event_id(n),
            body=big_body,
            deliveries=[
                Waiting(
                    namespace="shop", subscription="crm", generation=1, attempt=1, due_at=NOW + 60
                )
            ],
        )
        for n in range(7)
    ]
    messages = packed(big, NOW)
    assert [len(m) for m in messages] == [3, 3, 1]
    for indices in messages:  # what SQS takes
        text = WaitingBatch(events=[big[n] for n in indices]).to_json()
        assert len(text.encode()) <= MAX_MESSAGE_BYTES


def test_a_batch_comes_back_as_it_went_and_a_lone_events_message_is_still_read() -> None:
    jobs = [job(event_id(1), "crm", NOW + 30), job(event_id(2), "erp", NOW + 31, attempt=2)]
    groups = bundled(jobs, NOW)
    batch = WaitingBatch(events=groups)
    assert batch.wakes_at == NOW + 31
    assert read_waiting(batch.to_json()) == groups
    # what dispatchers wrote before batches: one event's deliveries alone
    assert read_waiting(groups[0].to_json()) == [groups[0]]
    with pytest.raises(ValidationError):
        read_waiting('{"events": []}')
    with pytest.raises(ValidationError):
        read_waiting('{"webhook_id": "evt_x"}')
