"""Where a message goes: a pool routing its target, or the session pool wired to its account."""

from __future__ import annotations

from typing import Any

import pytest

from session_runner.api.routing import (
    NotRoutableError,
    Route,
    account_pool,
    pool_for_target,
    pool_refusal,
)
from session_runner.contract.session_outbound import OUTBOUND_ANNOTATION, SessionOutboundWiring

READY = {"queueUrl": "http://q", "conditions": [{"type": "Ready", "status": "True"}]}
STARTING = {
    "queueUrl": "http://q",
    "conditions": [{"type": "Ready", "status": "False", "reason": "SendersStarting"}],
}
INVALID = {
    "conditions": [
        {"type": "Ready", "status": "False", "reason": "InvalidSpec", "message": "bad secret"}
    ]
}
NO_QUEUE = {"queueUrl": "http://q", "conditions": [{"type": "Ready", "reason": "QueueUnavailable"}]}


def pool(name: str, target: str, status: dict[str, Any] | None) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"target": target}, "status": status}


@pytest.mark.parametrize(
    ("status", "refusal"),
    [
        (READY, None),
        (STARTING, None),  # senders starting: the queue takes the message
        (INVALID, "bad secret"),
        (NO_QUEUE, "QueueUnavailable"),
        ({}, "its queue does not exist yet (no status.queueUrl)"),
        (None, "its queue does not exist yet (no status.queueUrl)"),
        ({"conditions": "nonsense", "queueUrl": "http://q"}, None),
    ],
)
def test_pool_refusal(status: dict[str, Any] | None, refusal: str | None) -> None:
    assert pool_refusal(status) == refusal


@pytest.mark.parametrize(
    ("pools", "target", "route", "problem"),
    [
        ([pool("a", "alpha", READY)], "alpha", Route("alpha", "a"), None),
        ([pool("a", "alpha", READY)], "beta", None, "no SenderPool in namespace ns routes beta"),
        ([pool("a", "alpha", INVALID)], "alpha", None, "SenderPool a is not ready: bad secret"),
        (  # one of two routing it can take it
            [pool("b", "alpha", READY), pool("a", "alpha", INVALID)],
            "alpha",
            Route("alpha", "b"),
            None,
        ),
        ([{"metadata": {}, "spec": "junk"}], "alpha", None, "no SenderPool"),
    ],
)
def test_pool_for_target(
    pools: list[dict[str, Any]], target: str, route: Route | None, problem: str | None
) -> None:
    if problem is None:
        assert pool_for_target(pools, target, "ns") == route
    else:
        with pytest.raises(NotRoutableError) as raised:
            pool_for_target(pools, target, "ns")
        assert raised.value.field == "target"
        assert problem in str(raised.value)


def wired(pool_name: str) -> str:
    return SessionOutboundWiring(
        pool=pool_name,
        queue_url="http://q",
        dead_letter_queue_url="http://d",
        ledger_table="t",
        aws_region="us-east-1",
        rate_limit_per_second=1,
        concurrency=1,
        max_receive_count=5,
        visibility_timeout_seconds=60,
    ).to_annotation()


def account(annotations: dict[str, str] | None) -> dict[str, Any]:
    return {"metadata": {"name": "alice", "annotations": annotations}}


@pytest.mark.parametrize(
    ("annotations", "pools", "route", "problem"),
    [
        (
            {OUTBOUND_ANNOTATION: wired("alice-s")},
            [pool("alice-s", "alice-t", READY)],
            Route("alice-t", "alice-s", "alice", vendor="session"),
            None,
        ),
        (None, [], None, "no SenderPool with vendor session and accountRef alice is wired"),
        ({OUTBOUND_ANNOTATION: "{not json"}, [], None, "annotation wafleet.io/outbound"),
        ({OUTBOUND_ANNOTATION: wired("gone")}, [], None, "SenderPool gone, which does not exist"),
        (
            {OUTBOUND_ANNOTATION: wired("alice-s")},
            [pool("alice-s", "alice-t", INVALID)],
            None,
            "SenderPool alice-s of alice is not ready: bad secret",
        ),
    ],
)
def test_account_pool(
    annotations: dict[str, str] | None,
    pools: list[dict[str, Any]],
    route: Route | None,
    problem: str | None,
) -> None:
    if problem is None:
        assert account_pool(account(annotations), pools, "ns") == route
    else:
        with pytest.raises(NotRoutableError) as raised:
            account_pool(account(annotations), pools, "ns")
        assert raised.value.field == "account"
        assert problem in str(raised.value)
