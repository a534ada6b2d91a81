"""The pool-wide limiter on the moto server: several replicas, one schedule.

Assertions are on the returned schedule, which the shared state makes
deterministic, never on how long anything took. Most tests run the replicas
on one virtual wall clock that moves only when a replica waits, so a slow
machine cannot open gaps in a backlogged schedule.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from session_runner.sender.ledger import Ledger, client_config, ensure_table
from session_runner.sender.rate_decision import DEFAULT_SAFETY, RateState
from session_runner.sender.ratelimit import PoolRateLimiter, RateLimitError

TABLE = "wafleet-outbound-ledger"
START = 1_750_000_000.0
REAL_PAUSE_CAP_S = 0.05


class VirtualClock:
    """A wall clock shared by the replicas of one test that moves only when one of them waits.

    `sleep` moves it forward by the wait at once. Replicas waiting at the
    same time then add up their waits (time runs a little fast, which can
    only open gaps in the schedule, never close them: it errs against the
    utilisation assertions, not for them). Short waits (the limiter's
    jittered pauses after a lost race) also pass in real time: they exist to
    let the racing replicas' requests spread out, which a wait of no real
    time would not do.
    """

    def __init__(self, start: float = START) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(min(seconds, REAL_PAUSE_CAP_S))


def max_in_window(times: list[float], window_s: float = 1.0) -> int:
    """The most of `times` any half-open window [a, a + window_s) holds."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window_s) - i for i, t in enumerate(ordered)), default=0
    )


@pytest.fixture
def make_client(aws: Any) -> Callable[[], Any]:
    first = boto3.client("dynamodb", config=client_config(2.0), **aws.server.client_kwargs())
    ensure_table(first, TABLE)
    return lambda: boto3.client("dynamodb", config=client_config(2.0), **aws.server.client_kwargs())


def replica(
    make_client: Callable[[], Any], clock: VirtualClock, rate: float, pool: str = "pool-a"
) -> PoolRateLimiter:
    return PoolRateLimiter(make_client(), TABLE, pool, rate, clock=clock.time, sleep=clock.sleep)


async def test_three_replicas_under_backlog_share_the_rate(make_client: Callable[[], Any]) -> None:
    rate, clock = 20.0, VirtualClock()
    replicas = [replica(make_client, clock, rate) for _ in range(3)]
    schedules: list[list[float]] = [[] for _ in replicas]

    async def keep_acquiring(limiter: PoolRateLimiter, schedule: list[float]) -> None:
        while clock.now < START + 4:  # a backlog: ask again as soon as the last answer came
            schedule.extend(await limiter.acquire(3))

    await asyncio.gather(*(keep_acquiring(r, s) for r, s in zip(replicas, schedules, strict=True)))
    everything = sorted(t for schedule in schedules for t in schedule)
    assert len(set(everything)) == len(everything)  # no slot handed out twice
    assert all(schedule for schedule in schedules)  # every replica got its share of turns
    assert max_in_window(everything) <= math.ceil(rate)
    span = everything[-1] - everything[0]
    assert span >= 3.0  # the replicas did run "for a while"
    assert (len(everything) - 1) / span >= 0.95 * rate
    gaps = [b - a for a, b in itertools.pairwise(everything)]
    assert min(gaps) >= 1 / (rate * DEFAULT_SAFETY)


async def test_a_replica_that_loses_the_write_race_takes_the_next_slots(
    make_client: Callable[[], Any],
) -> None:
    """Both computed from the same state; the second write is refused and re-reserved."""
    clock = VirtualClock()
    slow_client = make_client()
    slow = PoolRateLimiter(slow_client, TABLE, "pool-a", 10.0, clock=clock.time, sleep=clock.sleep)
    fast = replica(make_client, clock, 10.0)
    await slow.state()  # both start from the same (empty) state
    fast_times: list[list[float]] = []
    fired = False

    def before_put(**_: Any) -> None:
        nonlocal fired
        if not fired:
            fired = True
            fast_times.append(asyncio.run(fast.acquire(3)))

    slow_client.meta.events.register("before-call.dynamodb.PutItem", before_put)
    slow_times = await slow.acquire(3)
    assert len(fast_times) == 1
    assert fast_times[0][0] == START  # the race's winner got the first slots
    assert slow_times[0] > fast_times[0][-1]
    assert max_in_window([*fast_times[0], *slow_times]) <= 10


async def test_concurrent_calls_of_one_replica_share_one_write(
    make_client: Callable[[], Any],
) -> None:
    """Five batches ask at once: one reservation write serves them all, in the order asked."""
    clock = VirtualClock()
    limiter = replica(make_client, clock, 20.0)
    shares = await asyncio.gather(*(limiter.acquire(2) for _ in range(5)))

    assert [len(share) for share in shares] == [2] * 5
    everything = [t for share in shares for t in share]
    assert everything == sorted(everything)
    assert len(set(everything)) == 10
    assert everything[0] == START
    assert (await limiter.state()).version == 1  # one write, not five racing ones


async def test_a_call_the_horizon_cannot_serve_waits_for_the_next_write(
    make_client: Callable[[], Any],
) -> None:
    """At 2/s one second holds two slots: the first call takes both, the second waits."""
    clock = VirtualClock()
    limiter = replica(make_client, clock, 2.0)
    first, second = await asyncio.gather(limiter.acquire(2), limiter.acquire(2))

    assert first == [START, pytest.approx(START + 1 / (2 * DEFAULT_SAFETY), abs=1e-5)]
    assert second
    assert second[0] > first[-1]
    assert max_in_window([*first, *second]) <= 2


async def test_a_throttle_from_one_replica_delays_the_others(
    make_client: Callable[[], Any],
) -> None:
    clock = VirtualClock()
    throttler, fresh, cached = (replica(make_client, clock, 10.0) for _ in range(3))
    before = await cached.acquire(2)  # `cached` has written the state and keeps it
    assert before[0] == START

    await throttler.throttle(5.0, "429: quota exceeded")
    until = START + 5.0

    after_fresh = await fresh.acquire(2)
    after_cached = await cached.acquire(2)  # its kept state is stale: the CAS corrects it
    assert after_fresh[0] == until
    assert min(after_cached) >= until
    assert set(after_fresh).isdisjoint(after_cached)

    state = await fresh.state()
    assert state.throttled_until == until
    assert state.throttle_reason == "429: quota exceeded"
    assert state.throttled(START + 1)

    assert clock.now < until - 0.5
    await throttler.throttle(until - clock.now - 0.5, "one ending sooner")  # never shortens it
    assert (await cached.state()).throttle_reason == "429: quota exceeded"


async def test_pools_do_not_share_a_schedule(make_client: Callable[[], Any]) -> None:
    clock = VirtualClock()
    a = replica(make_client, clock, 10.0, pool="pool-a")
    b = replica(make_client, clock, 10.0, pool="pool-b")
    assert (await a.acquire(1))[0] == START
    assert (await b.acquire(1))[0] == START
    await a.throttle(30.0, "429")
    assert not (await b.state()).throttled(START)


async def test_the_item_layout_and_the_ledger_beside_it(make_client: Callable[[], Any]) -> None:
    client, clock = make_client(), VirtualClock()
    limiter = PoolRateLimiter(client, TABLE, "pool-a", 10.0, clock=clock.time, sleep=clock.sleep)
    assert await limiter.state() == RateState()  # a pool that never sent
    await limiter.acquire(1)
    await limiter.throttle(2.0, "429")
    item = client.get_item(TableName=TABLE, Key={"id": {"S": "ratelimit#pool-a"}})["Item"]
    assert item == {
        "id": {"S": "ratelimit#pool-a"},
        "tat": {"N": "1750000002.0"},
        "throttled_until": {"N": "1750000002.0"},
        "throttle_reason": {"S": "429"},
        "version": {"N": "2"},
    }
    # the ledger in the same table never sees it
    ledger = Ledger(client, TABLE)
    await ledger.claim("msg-1", "sender-0/aaaa", 30.0)
    assert (await limiter.state()).version == 2


async def test_real_clock_replicas_get_times_from_now_on_within_the_limit(
    make_client: Callable[[], Any],
) -> None:
    """The production defaults (time.time, asyncio.sleep): the schedule, not the timing."""
    rate = 50.0
    replicas = [PoolRateLimiter(make_client(), TABLE, "pool-a", rate) for _ in range(3)]
    started = time.time()

    async def take(limiter: PoolRateLimiter) -> list[float]:
        got: list[float] = []
        while len(got) < 25:
            got.extend(await limiter.acquire(5))
        return got

    schedules = await asyncio.gather(*(take(r) for r in replicas))
    everything = sorted(t for schedule in schedules for t in schedule)
    assert everything[0] >= started
    assert len(set(everything)) == len(everything)
    assert max_in_window(everything) <= rate


async def test_a_free_slot_is_put_off_by_the_round_trip_to_the_item(
    make_client: Callable[[], Any],
) -> None:
    """Real clock: no slot is handed out for earlier than the reservation can arrive."""
    limiter = PoolRateLimiter(make_client(), TABLE, "pool-a", 1000.0)
    await limiter.acquire(1)  # a first round trip to measure
    lead = limiter.lead_s
    assert lead > 0
    asked = time.time()
    [at] = await limiter.acquire(1)
    assert at >= asked + lead


async def test_a_missing_table_is_a_rate_limit_error(make_client: Callable[[], Any]) -> None:
    limiter = PoolRateLimiter(make_client(), "no-such-table", "pool-a", 10.0)
    with pytest.raises(RateLimitError, match="ResourceNotFoundException"):
        await limiter.acquire(1)
    with pytest.raises(RateLimitError, match="ResourceNotFoundException"):
        await limiter.throttle(1.0, "429")


@pytest.mark.parametrize(
    ("pool", "rate", "complaint"),
    [
        pytest.param("", 10.0, "pool_key", id="nameless pool"),
        pytest.param("pool-a", 0.0, "rate_per_s", id="zero rate"),
    ],
)
def test_bad_limiter_settings_are_refused(pool: str, rate: float, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        PoolRateLimiter(object(), TABLE, pool, rate)
