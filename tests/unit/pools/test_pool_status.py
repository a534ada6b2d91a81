"""`decide_pool_status`: a SenderPool's conditions from what the operator observed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wafleet_operator.pools.status import PoolObserved, decide_pool_status
from wafleet_operator.status import Problem

NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
QUEUES: dict[str, Any] = {
    "queue_url": "http://sqs/q",
    "dead_letter_queue_url": "http://sqs/q-dlq",
}


@pytest.mark.parametrize(
    ("case", "observed", "ready", "throttled"),
    [
        (
            "bad spec: not ready, naming the field",
            PoolObserved(1, problems=(Problem("spec.credentialsSecret", "Secret x not found"),)),
            ("False", "InvalidSpec"),
            ("False", "NotThrottled"),
        ),
        (
            "queues could not be ensured",
            PoolObserved(1, queue_error="SQS: AccessDenied"),
            ("False", "QueueUnavailable"),
            ("False", "NotThrottled"),
        ),
        (
            "idle, scaled to zero: ready (the first message scales it up)",
            PoolObserved(1, visible=0, in_flight=0, desired_replicas=0, **QUEUES),
            ("True", "Idle"),
            ("False", "NotThrottled"),
        ),
        (
            "messages waiting, senders not up yet",
            PoolObserved(1, visible=40, in_flight=0, desired_replicas=1, **QUEUES),
            ("False", "SendersStarting"),
            ("False", "NotThrottled"),
        ),
        (
            "sending",
            PoolObserved(1, visible=400, in_flight=30, ready_replicas=3, desired_replicas=3),
            ("True", "Sending"),
            ("False", "NotThrottled"),
        ),
        (
            "the vendor throttled the pool a minute more",
            PoolObserved(
                1,
                visible=10,
                ready_replicas=1,
                desired_replicas=1,
                throttled_until=NOW + timedelta(minutes=1),
                throttle_reason="twilio 20429",
            ),
            ("True", "Sending"),
            ("True", "VendorThrottled"),
        ),
        (
            "a session pool whose account is logged out: messages wait in the queue",
            PoolObserved(
                1,
                visible=3,
                desired_replicas=1,
                account_problem="WhatsAppAccount a is AwaitingLogin",
                **QUEUES,
            ),
            ("False", "AccountNotConnected"),
            ("False", "NotThrottled"),
        ),
        (
            "a session pool whose account is connected",
            PoolObserved(1, visible=3, ready_replicas=1, desired_replicas=1, **QUEUES),
            ("True", "Sending"),
            ("False", "NotThrottled"),
        ),
        (
            "a throttle that has passed is over",
            PoolObserved(
                1, visible=0, desired_replicas=0, throttled_until=NOW - timedelta(seconds=1)
            ),
            ("True", "Idle"),
            ("False", "NotThrottled"),
        ),
    ],
)
def test_pool_conditions(
    case: str, observed: PoolObserved, ready: tuple[str, str], throttled: tuple[str, str]
) -> None:
    verdict = decide_pool_status(observed, NOW)
    got = {c["type"]: (c["status"], c["reason"]) for c in verdict.conditions}
    assert got == {"Ready": ready, "Throttled": throttled}, case


def test_the_patch_carries_queues_depth_and_replicas_and_clears_what_is_unknown() -> None:
    verdict = decide_pool_status(
        PoolObserved(3, visible=7, in_flight=2, ready_replicas=1, desired_replicas=1, **QUEUES), NOW
    )
    patch = verdict.patch
    assert patch["queueDepth"] == {"visible": 7, "inFlight": 2}
    assert (patch["replicas"], patch["desiredReplicas"], patch["observedGeneration"]) == (1, 1, 3)
    assert patch["queueUrl"] == "http://sqs/q"
    unknown = decide_pool_status(PoolObserved(3), NOW).patch
    assert unknown["queueDepth"] is None
    assert unknown["queueUrl"] is None


def test_a_live_throttle_is_in_the_status_and_a_past_one_is_cleared() -> None:
    live = decide_pool_status(
        PoolObserved(
            1, throttled_until=NOW + timedelta(seconds=30), throttle_reason="throttle: 20429"
        ),
        NOW,
    ).patch
    assert (live["throttledUntil"], live["throttleReason"]) == (
        "2026-12-06T12:00:30Z",
        "throttle: 20429",
    )
    past = decide_pool_status(
        PoolObserved(1, throttled_until=NOW, throttle_reason="throttle: 20429"), NOW
    ).patch
    assert (past["throttledUntil"], past["throttleReason"]) == (None, None)


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    first = decide_pool_status(PoolObserved(1, visible=0, desired_replicas=0), NOW)
    later = decide_pool_status(
        PoolObserved(1, visible=0, desired_replicas=0, previous_conditions=tuple(first.conditions)),
        NOW + timedelta(minutes=5),
    )
    assert later.ready["lastTransitionTime"] == first.ready["lastTransitionTime"]
