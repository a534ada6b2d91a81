"""Exactly once under faults: three `wafleet-runner sender` processes, SIGKILLed at random,
against SQS and DynamoDB on the moto server and a Twilio stand-in that fails and throttles.

The CI share of issue 15's trial (the full run, ≥ 50,000 messages, is
`make bench ONLY=outbound`). The test also checks that the faults happened,
so it cannot pass by having nothing go wrong. The counting rules are tested
on their own first.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.harness.devserver import MotoServer
from tests.harness.outbound_trial import (
    Tally,
    TrialConfig,
    max_in_window,
    publish_order,
    run_trial,
    tally,
)

SENT, FAILED, SENDING = "SENT", "FAILED", "SENDING"


@pytest.mark.parametrize(
    ("ledger", "dead_letters", "accepted", "expected"),
    [
        pytest.param({"a": (SENT, None)}, {}, {"a": 1}, Tally(0, 0, 1, 0, 0), id="sent once"),
        pytest.param(
            {"a": (SENT, None)}, {}, {"a": 2}, Tally(1, 0, 1, 0, 0), id="sent twice: a duplicate"
        ),
        pytest.param(
            {"a": (FAILED, "21211: bad number")}, {}, {}, Tally(0, 0, 0, 1, 0), id="failed, why"
        ),
        pytest.param({"a": (FAILED, None)}, {}, {}, Tally(0, 1, 0, 0, 0, ("a",)), id="no why"),
        pytest.param(
            {"a": (SENDING, None)},
            {"a": "outcome unknown"},
            {},
            Tally(0, 0, 0, 0, 1),
            id="dead-lettered with a reason",
        ),
        pytest.param(
            {"a": (SENDING, None)},
            {"a": None},
            {},
            Tally(0, 1, 0, 0, 0, ("a",)),
            id="redriven by SQS without a reason: lost",
        ),
        pytest.param({}, {}, {}, Tally(0, 1, 0, 0, 0, ("a",)), id="no trace: lost"),
        pytest.param(
            {"a": (SENDING, None)}, {}, {"a": 1}, Tally(0, 1, 0, 0, 0, ("a",)), id="never settled"
        ),
    ],
)
def test_the_verdict_by_our_id(
    ledger: dict[str, tuple[str, str | None]],
    dead_letters: dict[str, str | None],
    accepted: dict[str, int],
    expected: Tally,
) -> None:
    assert tally(["a"], ledger, dead_letters, accepted) == expected


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        pytest.param([], 0, id="none"),
        pytest.param([5.0], 1, id="one"),
        pytest.param([0.0, 0.5, 0.999], 3, id="inside one window"),
        pytest.param([0.0, 0.5, 1.0], 2, id="the window is half-open"),
        pytest.param([3.0, 0.1, 0.2, 2.9, 3.05, 3.8], 4, id="unsorted, busiest later"),
        pytest.param([i / 10 for i in range(30)], 10, id="steady 10/s"),
    ],
)
def test_the_busiest_one_second_window(times: list[float], expected: int) -> None:
    assert max_in_window(times) == expected


@pytest.mark.parametrize(("count", "fraction"), [(0, 0.5), (10, 0.0), (100, 0.1), (500, 0.5)])
def test_publish_order_holds_every_id_once_and_the_chosen_share_twice(
    count: int, fraction: float
) -> None:
    order = publish_order(count, fraction, random.Random(7))
    assert set(order) == {f"trial-{n:06d}" for n in range(count)}
    assert len(order) - count == round(count * fraction)
    assert max((order.count(i) for i in set(order)), default=1) <= 2


async def test_no_message_is_sent_twice_or_lost_under_kills_and_vendor_faults(
    moto_server: MotoServer,
) -> None:
    config = TrialConfig(
        messages=1_000, replicas=3, kill_every_s=(3.0, 7.0), freeze_every_s=(3.0, 6.0), seed=15
    )

    moto_server.reset()
    result = await asyncio.to_thread(run_trial, config, moto_server)

    assert result.tally.duplicates == 0, result
    assert result.tally.lost == 0, result
    assert result.tally.sent + result.tally.failed + result.tally.dead_lettered == 1_000
    # the faults happened, so the test cannot pass by everything going right
    assert result.publishes > 1_000  # duplicated publishes
    assert result.kills > 0, result
    assert result.freezes > 0, result  # visibility ran out mid-send, renewals or not
    assert result.throttles > 0, result
    assert result.failures > 0, result
    assert result.redeliveries > 0, result
    assert result.reclaims > 0, result  # a claim ran out mid-send and another replica took it
