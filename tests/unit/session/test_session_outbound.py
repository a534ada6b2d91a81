"""A session pool's queue: when the runner consumes it, what engine errors mean, the wiring."""

from __future__ import annotations

import pytest

from session_runner.contract.session_outbound import (
    OUTBOUND_ANNOTATION,
    SessionOutboundWiring,
    wiring_from_annotations,
)
from session_runner.sender.vendors.base import Outcome
from session_runner.session.engines.base import (
    EngineStopped,
    NotReady,
    SendInterrupted,
    SendRejected,
)
from session_runner.session.outbound.adapter import ACCOUNT_LIMITED_PAUSE_S, result_for_error
from session_runner.session.outbound.decision import (
    Consuming,
    OutboundStep,
    outbound_step,
    wanted_consumer,
)

WIRING = SessionOutboundWiring(
    pool="alice-session",
    queue_url="http://127.0.0.1:5000/123456789012/wf-default-alice-session",
    dead_letter_queue_url="http://127.0.0.1:5000/123456789012/wf-default-alice-session-dlq",
    ledger_table="wafleet-outbound-ledger",
    aws_region="us-east-1",
    rate_limit_per_second=5,
    concurrency=2,
    max_receive_count=5,
    visibility_timeout_seconds=60,
)
OTHER = WIRING.model_copy(update={"pool": "bob-session"})


@pytest.mark.parametrize(
    ("wiring", "token", "ready", "expected"),
    [
        (WIRING, 3, True, Consuming(WIRING, 3)),  # leading, connected: consume
        (WIRING, None, True, None),  # standby: never
        (WIRING, 3, False, None),  # leading, logged out or reconnecting: messages wait
        (None, 3, True, None),  # no session pool names this account
    ],
)
def test_only_the_ready_leader_consumes(
    wiring: SessionOutboundWiring | None, token: int | None, ready: bool, expected: object
) -> None:
    assert wanted_consumer(wiring, token, engine_ready=ready) == expected


@pytest.mark.parametrize(
    ("running", "wanted", "step"),
    [
        (None, None, OutboundStep.KEEP),
        (None, Consuming(WIRING, 1), OutboundStep.START),
        (Consuming(WIRING, 1), Consuming(WIRING, 1), OutboundStep.KEEP),
        (Consuming(WIRING, 1), None, OutboundStep.STOP),
        (Consuming(WIRING, 1), Consuming(WIRING, 2), OutboundStep.RESTART),  # a new token
        (Consuming(WIRING, 1), Consuming(OTHER, 1), OutboundStep.RESTART),  # another pool
    ],
)
def test_outbound_step(running: Consuming | None, wanted: Consuming | None, step: str) -> None:
    assert outbound_step(running, wanted) is step


@pytest.mark.parametrize(
    ("error", "outcome", "code"),
    [
        (SendInterrupted("killed"), Outcome.UNKNOWN, None),  # may have left: claim kept
        (NotReady("not logged in"), Outcome.RETRY, None),  # definitely not sent
        (EngineStopped("stopped"), Outcome.RETRY, None),
        (SendRejected(500, retryable=True), Outcome.RETRY, "500"),
        (SendRejected(475, retryable=False), Outcome.THROTTLE, "475"),  # account restricted
        (SendRejected(463, retryable=False), Outcome.THROTTLE, "463"),
        (SendRejected(400, retryable=False), Outcome.PERMANENT, "400"),
        (ValueError("not a phone number or JID: 'x'"), Outcome.PERMANENT, "invalid-recipient"),
        (RuntimeError("a bug"), Outcome.UNKNOWN, None),  # never guess "not sent"
    ],
)
def test_what_an_engine_error_means(error: Exception, outcome: Outcome, code: str | None) -> None:
    result = result_for_error(error)
    assert result.outcome is outcome
    assert result.code == code
    assert result.vendor_message_id is None
    if outcome is Outcome.THROTTLE:
        assert result.retry_after_s == ACCOUNT_LIMITED_PAUSE_S


def test_the_wiring_round_trips_through_the_annotation() -> None:
    value = WIRING.to_annotation()
    assert value == WIRING.to_annotation()  # stable: the same wiring never rewrites
    assert '"queueUrl"' in value  # camelCase, as everything a person reads on the object
    assert wiring_from_annotations({OUTBOUND_ANNOTATION: value}) == (WIRING, None)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, None),
        ("", None),
        ("not json", "annotation wafleet.io/outbound: value: Invalid JSON"),
        ('{"pool": "p"}', "annotation wafleet.io/outbound: queueUrl: Field required"),
        (
            WIRING.to_annotation().replace('"concurrency":2', '"concurrency":0'),
            "annotation wafleet.io/outbound: concurrency: Input should be greater than or "
            "equal to 1",
        ),
    ],
)
def test_a_bad_or_missing_wiring_consumes_nothing(value: str | None, problem: str | None) -> None:
    annotations = {} if value is None else {OUTBOUND_ANNOTATION: value}
    wiring, found = wiring_from_annotations(annotations)
    assert wiring is None
    assert found is None if problem is None else (found or "").startswith(problem)
