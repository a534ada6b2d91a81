"""The elector on virtual time against the in-memory backend (itself held to the backend
contract suite in tests/integration/lease), with a test-double network in between."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from session_runner.session.lease.elector import LeaseElector
from session_runner.session.lease.memory import InMemoryLeaseBackend, InMemoryLeaseStore
from session_runner.session.lease.record import LeaseRecord, LeaseTimings
from tests.unit.lease.doubles import (
    Fault,
    FaultyNetwork,
    Recorder,
    VirtualTime,
    assert_no_overlap,
    leadership_intervals,
)

T = LeaseTimings(duration=15.0, renew_deadline=10.0, retry_period=2.0)
NAME = "waa-alice"


@dataclass
class World:
    """One lease, virtual time, and any number of electors with their own networks."""

    vt: VirtualTime = field(default_factory=VirtualTime)
    store: InMemoryLeaseStore = field(default_factory=InMemoryLeaseStore)
    events: list[tuple[str, str, float, int | None]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    wall: Callable[[], datetime] | None = None

    def elector(
        self,
        identity: str,
        timings: LeaseTimings = T,
        jitter: float = 0.5,
        token_floor: Callable[[], Awaitable[int]] | None = None,
    ) -> tuple[LeaseElector, FaultyNetwork, Recorder]:
        net = FaultyNetwork(InMemoryLeaseBackend(self.store, NAME), sleep=self.vt.sleep)
        elector = LeaseElector(
            net,
            identity,
            timings,
            clock=self.vt.clock,
            wall=self.wall or self.vt.wall,
            sleep=self.vt.sleep,
            jitter=lambda: jitter,
            token_floor=token_floor,
        )
        return elector, net, Recorder(identity, self.vt.clock, self.events)

    def start(self, elector: LeaseElector, recorder: Recorder) -> asyncio.Task[None]:
        task = asyncio.create_task(elector.run(recorder.started, recorder.stopped))
        self.tasks.append(task)
        return task

    @property
    def record(self) -> LeaseRecord | None:
        return self.store.leases.get(NAME)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = World()
    yield w
    for task in w.tasks:
        task.cancel()
    await asyncio.gather(*w.tasks, return_exceptions=True)


async def test_first_runner_creates_the_lease_and_renews_it(world: World) -> None:
    a, _, rec_a = world.elector("a")
    world.start(a, rec_a)
    await world.vt.run_until(lambda: a.is_leader, limit=1)
    assert world.events == [("started", "a", 1000.0, 0)]
    assert a.fencing_token == 0
    assert world.record is not None
    assert world.record.holder == "a"
    first_version = world.record.version

    await world.vt.run_for(60)
    assert a.is_leader
    assert rec_a.count("stopped") == 0
    assert int(world.record.version) >= int(first_version) + 25  # renewed every 2 s
    assert world.record.transitions == 0


async def test_a_second_runner_waits_for_a_live_holder(world: World) -> None:
    a, _, rec_a = world.elector("a")
    b, _, rec_b = world.elector("b")
    world.start(a, rec_a)
    await world.vt.run_until(lambda: a.is_leader, limit=1)
    world.start(b, rec_b)
    await world.vt.run_for(120)
    assert rec_b.count("started") == 0
    assert not b.is_leader
    assert b.observed_holder == "a"


async def test_partitioned_leader_stops_before_the_other_takes_over(world: World) -> None:
    a, net_a, rec_a = world.elector("a")
    b, _, rec_b = world.elector("b")
    world.start(a, rec_a)
    await world.vt.run_until(lambda: a.is_leader, limit=1)
    world.start(b, rec_b)
    await world.vt.run_for(7)
    last_renew = a.last_renew_monotonic
    assert last_renew is not None

    net_a.partitioned = True
    await world.vt.run_until(lambda: b.is_leader, limit=60)

    (_, _, stopped_at, _), (_, _, b_started_at, b_token) = [
        e for e in world.events if e[0] == "stopped" or e[1] == "b"
    ]
    assert [e[:2] for e in world.events] == [("started", "a"), ("stopped", "a"), ("started", "b")]
    assert stopped_at == pytest.approx(last_renew + T.renew_deadline)  # from the *sent* time
    assert b_started_at - stopped_at >= T.duration - T.renew_deadline
    assert b_token == 1
    assert not a.is_leader
    assert a.fencing_token is None


async def test_a_slow_answer_does_not_extend_the_leaders_belief(world: World) -> None:
    """The renewal lands at once, but its answer would arrive after the deadline: the
    elector stops at sent + RenewDeadline, it does not wait for the answer."""
    a, net_a, rec_a = world.elector("a")
    world.start(a, rec_a)
    await world.vt.run_until(lambda: a.is_leader, limit=1)
    await world.vt.run_for(3)
    net_a.plan = lambda op: Fault(response_delay=30.0)
    before = world.record
    await world.vt.run_until(lambda: rec_a.count("stopped") == 1, limit=30)
    stopped_at = world.events[-1][2]
    sent = a.last_renew_monotonic
    assert sent is not None
    assert stopped_at == pytest.approx(sent + T.renew_deadline)
    assert world.record != before  # the write did land: only its answer was late


async def test_a_late_successful_answer_is_judged_by_when_it_was_sent() -> None:
    """Even when nothing bounds the call (an unbounded answer), a renewal whose answer
    comes back after its own deadline ends leadership instead of extending it."""
    vt = VirtualTime()
    store = InMemoryLeaseStore()
    net = FaultyNetwork(InMemoryLeaseBackend(store, NAME), sleep=vt.sleep)
    events: list[tuple[str, str, float, int | None]] = []
    rec = Recorder("a", vt.clock, events)
    real_sleeps: list[float] = []

    async def sleep_without_timeouts(seconds: float) -> None:
        real_sleeps.append(seconds)
        if seconds >= 5.0:  # the bound on a request: never fires (an unbounded client)
            await asyncio.Event().wait()
        await vt.sleep(seconds)

    a = LeaseElector(net, "a", T, clock=vt.clock, wall=vt.wall, sleep=sleep_without_timeouts)
    task = asyncio.create_task(a.run(rec.started, rec.stopped))
    try:
        await vt.run_until(lambda: a.is_leader, limit=1)
        net.plan = lambda op: Fault(response_delay=12.0)
        await vt.run_until(lambda: rec.count("stopped") == 1, limit=40)
        sent = a.last_renew_monotonic
        assert sent is not None
        assert events[-1][2] == pytest.approx(sent + 12.0)  # noticed when the answer came
        assert events[-1][2] - sent >= T.renew_deadline
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_seeing_another_holder_stops_at_once(world: World) -> None:
    a, _, rec_a = world.elector("a")
    world.start(a, rec_a)
    await world.vt.run_until(lambda: a.is_leader, limit=1)
    current = world.record
    assert current is not None
    # Someone with bad timings (or an operator by hand) steals the lease.
    world.store.write(NAME, LeaseRecord("intruder", 15.0, transitions=current.transitions + 1))
    stolen_at = world.vt.now
    await world.vt.run_until(lambda: rec_a.count("stopped") == 1, limit=T.renew_deadline)
    assert world.events[-1][2] - stolen_at <= T.retry_period  # the next renewal noticed it


async def test_graceful_release_lets_the_next_runner_take_over_at_once(world: World) -> None:
    a, _, rec_a = world.elector("a")
    b, _, rec_b = world.elector("b")
    task_a = world.start(a, rec_a)
    await world.vt.run_until(lambda: a.is_leader, limit=1)
    world.start(b, rec_b)
    await world.vt.run_for(5)

    task_a.cancel()
    await asyncio.gather(task_a, return_exceptions=True)
    assert rec_a.count("stopped") == 1  # cancelling run() stops the engine too
    released_at = world.vt.now
    assert await a.release() is True
    assert world.record is not None
    assert world.record.holder is None

    await world.vt.run_until(lambda: b.is_leader, limit=T.duration)
    assert world.events[-1][:2] == ("started", "b")
    assert world.events[-1][3] == 1
    # within one jittered retry period, not a lease duration
    assert world.events[-1][2] - released_at <= T.retry_period * 2.2
    assert await a.release() is False  # not ours any more


async def test_release_refuses_while_running_and_when_not_holding(world: World) -> None:
    a, _, rec_a = world.elector("a")
    world.start(a, rec_a)
    await world.vt.run_until(lambda: a.is_leader, limit=1)
    with pytest.raises(RuntimeError, match="cancel run"):
        await a.release()
    b, _, _ = world.elector("b")
    assert await b.release() is False
    assert world.record is not None
    assert world.record.holder == "a"


async def test_reacquires_its_own_record_with_the_same_token(world: World) -> None:
    a, net_a, rec_a = world.elector("a")
    world.start(a, rec_a)
    await world.vt.run_until(lambda: a.is_leader, limit=1)
    net_a.partitioned = True
    await world.vt.run_until(lambda: rec_a.count("stopped") == 1, limit=15)
    net_a.partitioned = False
    await world.vt.run_until(lambda: a.is_leader, limit=10)
    assert [e[0] for e in world.events] == ["started", "stopped", "started"]
    assert world.events[0][3] == world.events[2][3] == 0


@dataclass
class Floor:
    """The token floor a runner's storage would report: a value a test sets, or a failure.
    Counts how often the elector asked."""

    value: int = 0
    failing: bool = False
    asked: int = 0

    async def __call__(self) -> int:
        self.asked += 1
        if self.failing:
            raise ConnectionError("the snapshot store is unreachable (test double)")
        return self.value


async def test_a_recreated_lease_never_hands_out_a_token_below_the_floor(world: World) -> None:
    """Issue 13: the Lease deleted while held restarts leaseTransitions at 0; the claim that
    follows takes the floor (storage's latest token + 1), not 0."""
    floor = Floor()
    a, _, rec_a = world.elector("a", token_floor=floor)
    world.start(a, rec_a)
    await world.vt.run_until(lambda: a.is_leader, limit=1)
    assert a.fencing_token == 0
    floor.value = 6  # storage has since accepted token 5 (from an earlier incarnation)

    world.store.delete(NAME)  # drift repair, an account re-created with Retain …
    await world.vt.run_until(lambda: rec_a.count("started") == 2, limit=30)
    assert [e[0] for e in world.events] == ["started", "stopped", "started"]
    assert world.events[-1][3] == 6
    assert a.fencing_token == 6
    assert world.record is not None
    assert world.record.transitions == 6  # where the next holder and the operator see it

    # The next holder increments from it.
    b, _, rec_b = world.elector("b")
    world.start(b, rec_b)
    await world.vt.run_for(5)
    assert rec_b.count("started") == 0


async def test_the_floor_is_asked_only_when_claiming(world: World) -> None:
    a, _, rec_a = world.elector("a")
    world.start(a, rec_a)
    await world.vt.run_until(lambda: a.is_leader, limit=1)
    floor = Floor(value=0)
    b, _, rec_b = world.elector("b", token_floor=floor)
    world.start(b, rec_b)
    await world.vt.run_for(60)  # a renews throughout: b waits, without reading storage
    assert rec_b.count("started") == 0
    assert floor.asked == 0


async def test_no_claim_while_the_floor_cannot_be_read(world: World) -> None:
    floor = Floor(value=4, failing=True)
    a, net_a, rec_a = world.elector("a", token_floor=floor)
    world.start(a, rec_a)
    await world.vt.run_for(20)
    assert rec_a.count("started") == 0
    assert world.record is None  # nothing written with an unproven token
    assert floor.asked >= 5  # asked again every retry period
    assert "create" not in net_a.calls

    floor.failing = False
    await world.vt.run_until(lambda: a.is_leader, limit=5)
    assert a.fencing_token == 4


async def test_takeover_after_expiry_counts_a_transition_per_holder(world: World) -> None:
    electors = {name: world.elector(name) for name in "abc"}
    for elector, _, rec in electors.values():
        world.start(elector, rec)
    tokens: list[int] = []
    for _ in range(3):
        await world.vt.run_until(lambda: any(e.is_leader for e, _, _ in electors.values()), 60)
        leader, net, _ = next(v for v in electors.values() if v[0].is_leader)
        assert leader.fencing_token is not None
        tokens.append(leader.fencing_token)
        net.partitioned = True  # until someone else leads
        others = [e for e, _, _ in electors.values() if e is not leader]
        await world.vt.run_until(lambda others=others: any(e.is_leader for e in others), 60)  # type: ignore[misc]
        net.partitioned = False
    assert tokens == [0, 1, 2]
    assert_no_overlap(
        leadership_intervals(world.events, world.vt.now), T.duration - T.renew_deadline
    )


async def test_wall_clock_jumps_change_nothing() -> None:
    """Remote timestamps come from wall clocks that jump both ways; expiry ignores them."""
    rng = random.Random(7)
    base = datetime(2024, 5, 1, tzinfo=UTC)
    world = World(wall=lambda: base + timedelta(hours=rng.uniform(-48, 48)))
    try:
        a, net_a, rec_a = world.elector("a")
        b, _, rec_b = world.elector("b")
        world.start(a, rec_a)
        await world.vt.run_until(lambda: a.is_leader, limit=1)
        world.start(b, rec_b)
        await world.vt.run_for(90)
        assert rec_b.count("started") == 0
        assert rec_a.count("stopped") == 0
        net_a.partitioned = True
        await world.vt.run_until(lambda: b.is_leader, limit=60)
        assert_no_overlap(leadership_intervals(world.events, world.vt.now), 5.0)
    finally:
        for task in world.tasks:
            task.cancel()
        await asyncio.gather(*world.tasks, return_exceptions=True)


async def test_acquire_retries_with_client_go_jitter(world: World) -> None:
    sleeps: list[float] = []
    a, _, rec_a = world.elector("a", jitter=1.0)
    world.store.write(NAME, LeaseRecord("other", 15.0, transitions=4))
    original = a._sleep

    async def spy(seconds: float) -> None:
        sleeps.append(seconds)
        await original(seconds)

    a._sleep = spy
    world.start(a, rec_a)
    await world.vt.run_until(lambda: a.is_leader, limit=40)
    # Besides the bounds on each request (RenewDeadline), jittered retry sleeps:
    # RetryPeriod x (1 + 1.2 x jitter), here 4.4 s — except the last, which ends when the
    # holder seen at t0 has been unchanged for the full 15 s (t0 + 15.001), not a whole
    # retry later (t0 + 17.6): failover is as fast as the rule allows, never faster.
    retries = [round(s, 6) for s in sleeps if s != pytest.approx(T.renew_deadline)]
    assert retries[:4] == [4.4, 4.4, 4.4, 1.801]
    assert set(retries[4:]) <= {T.retry_period}  # the renew loop's first sleep, if reached
    assert a.fencing_token == 5


async def test_stop_callback_runs_before_the_leading_task_is_cancelled(world: World) -> None:
    order: list[str] = []
    a, net_a, _ = world.elector("a")

    async def lead(token: int) -> None:
        order.append(f"lead {token}")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            order.append("leading task cancelled")
            raise

    def stop_now() -> None:
        order.append(f"stop_now (is_leader={a.is_leader}, token={a.fencing_token})")

    world.tasks.append(asyncio.create_task(a.run(lead, stop_now)))
    await world.vt.run_until(lambda: order == ["lead 0"], limit=1)
    net_a.partitioned = True
    await world.vt.run_until(lambda: len(order) == 3, limit=15)
    assert order == ["lead 0", "stop_now (is_leader=False, token=None)", "leading task cancelled"]


async def test_async_stop_callback_is_awaited(world: World) -> None:
    done: list[str] = []
    a, net_a, rec_a = world.elector("a")

    async def stopped() -> None:
        await asyncio.sleep(0)
        done.append("cleaned up")

    world.tasks.append(asyncio.create_task(a.run(rec_a.started, stopped)))
    await world.vt.run_until(lambda: a.is_leader, limit=1)
    net_a.partitioned = True
    await world.vt.run_until(lambda: done == ["cleaned up"], limit=15)


async def test_check_fails_when_the_renew_loop_is_stuck(world: World) -> None:
    a, _, rec_a = world.elector("a")
    world.start(a, rec_a)
    await world.vt.run_until(lambda: a.is_leader, limit=1)
    assert a.check(max_tolerable_expiry=2.0)
    last = a.last_renew_monotonic
    assert last is not None
    # Freeze the loop (every task blocked) and let time pass underneath it.
    world.vt.now = last + T.renew_deadline + 0.1
    assert not a.is_leader  # readiness drops at the deadline, stuck or not
    assert a.check(2.0)
    world.vt.now = last + T.duration + 2.0
    assert a.check(2.0)
    world.vt.now = last + T.duration + 2.1
    assert not a.check(2.0)


@pytest.mark.parametrize("seed", range(24))
async def test_random_faults_never_produce_two_leaders(seed: int) -> None:
    """Three electors, random latency (some beyond the deadline), lost requests and
    answers, partitions; over ten virtual minutes: no overlap, tokens grow, and a
    leader exists again once the network heals."""
    rng = random.Random(seed)
    timings = LeaseTimings(duration=6.0, renew_deadline=4.0, retry_period=1.0)
    world = World()
    nets: list[FaultyNetwork] = []

    def plan(op: str) -> Fault:
        roll = rng.random()
        if roll < 0.08:
            return Fault(fail_before=True)
        if roll < 0.16:
            return Fault(fail_after=True, request_delay=rng.uniform(0, 1))
        if roll < 0.22:
            return Fault(request_delay=rng.uniform(0, 6), response_delay=rng.uniform(0, 6))
        if roll < 0.40:  # lands at once, answers just inside the deadline
            return Fault(response_delay=rng.uniform(2, 3.9))
        return Fault(request_delay=rng.uniform(0, 0.2), response_delay=rng.uniform(0, 0.2))

    try:
        electors = []
        for name in ("a", "b", "c"):
            elector, net, rec = world.elector(name, timings, jitter=rng.random())
            net.plan = plan
            nets.append(net)
            electors.append(elector)
            world.start(elector, rec)
        for _ in range(40):
            await world.vt.run_for(rng.uniform(2, 25))
            for net in nets:
                net.partitioned = rng.random() < 0.25
        for net in nets:
            net.partitioned = False
            net.plan = None
        await world.vt.run_until(lambda: any(e.is_leader for e in electors), limit=30)
        intervals = leadership_intervals(world.events, world.vt.now)
        assert_no_overlap(intervals, timings.duration - timings.renew_deadline)
        assert len({who for _, _, who, _ in intervals}) >= 2  # takeovers did happen
    finally:
        for task in world.tasks:
            task.cancel()
        await asyncio.gather(*world.tasks, return_exceptions=True)
