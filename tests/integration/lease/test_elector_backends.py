"""Two electors on one lease over the real backends (kube-apiserver, moto's DynamoDB), real time.

Short timings (1.5 s / 1.0 s / 0.2 s). Polling loops only guard against hangs;
assertions are about order, counts and values, never durations. The
"partition" is a test double for one runner's network (both runners share one
backend server, whose faults cannot target one client).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from session_runner.kube.client import KubeClient
from session_runner.session.lease.elector import LeaseElector
from session_runner.session.lease.record import LeaseTimings
from tests.faults.proxy import FaultProxy, Window
from tests.integration.lease.conftest import LeaseKit, open_kit
from tests.unit.lease.doubles import (
    FaultyNetwork,
    Recorder,
    assert_no_overlap,
    leadership_intervals,
)

TIMINGS = LeaseTimings(duration=1.5, renew_deadline=1.0, retry_period=0.2)
NAME = "waa-alice"
Events = list[tuple[str, str, float, int | None]]


async def eventually(predicate: Callable[[], bool], what: str, within: float = 20.0) -> None:
    """Poll (never a timing assertion: the limit only keeps a broken test from hanging)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Runner:
    """An elector with its own network and callbacks, as one runner process would have."""

    def __init__(self, kit: LeaseKit, identity: str, events: Events) -> None:
        self.net = FaultyNetwork(kit.backend(NAME))
        self.elector = LeaseElector(self.net, identity, TIMINGS)
        self.rec = Recorder(identity, time.monotonic, events)
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.elector.run(self.rec.started, self.rec.stopped))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
async def pair(real_kit: LeaseKit) -> AsyncIterator[tuple[Runner, Runner, Events]]:
    events: Events = []
    a, b = Runner(real_kit, "a", events), Runner(real_kit, "b", events)
    a.start()
    b.start()
    try:
        yield a, b, events
    finally:
        await a.stop()
        await b.stop()


def leader_of(a: Runner, b: Runner) -> tuple[Runner, Runner]:
    return (a, b) if a.elector.is_leader else (b, a)


async def test_exactly_one_leads_and_a_partitioned_leader_stops_first(
    pair: tuple[Runner, Runner, Events],
) -> None:
    a, b, events = pair
    both: list[bool] = []

    def one_leads() -> bool:
        both.append(a.elector.is_leader and b.elector.is_leader)
        return a.elector.is_leader or b.elector.is_leader

    await eventually(one_leads, "a leader")
    await asyncio.sleep(TIMINGS.duration)  # several renewals while the other keeps trying
    await eventually(one_leads, "a leader")
    leader, other = leader_of(a, b)
    token = leader.elector.fencing_token
    assert token is not None
    mark = len(events)

    leader.net.partitioned = True
    await eventually(lambda: one_leads() and other.elector.is_leader, "the takeover")

    assert not any(both)
    after = events[mark:]
    stopped = [e for e in after if e[:2] == ("stopped", leader.rec.identity)]
    started = [e for e in after if e[:2] == ("started", other.rec.identity)]
    assert len(stopped) == 1
    assert len(started) == 1
    assert stopped[0][2] < started[0][2]  # the old leader stopped before the new one started
    assert started[0][3] == token + 1  # the fencing token increased
    assert_no_overlap(leadership_intervals(events, time.monotonic()))

    leader.net.partitioned = False  # healed: it sees the new holder and follows
    await eventually(
        lambda: leader.elector.observed_holder == other.rec.identity, "the old leader to follow"
    )


async def test_graceful_release_hands_over_on_the_next_attempt(
    pair: tuple[Runner, Runner, Events],
) -> None:
    a, b, events = pair
    await eventually(lambda: a.elector.is_leader or b.elector.is_leader, "a leader")
    leader, other = leader_of(a, b)
    token = leader.elector.fencing_token
    assert token is not None

    calls_before = len(other.net.calls)
    await leader.stop()
    released_at = time.monotonic()
    assert await leader.elector.release() is True
    await eventually(lambda: other.elector.is_leader, "the handover")

    # The handover came from reading the released record and claiming it: the other's
    # last two requests are a read and a claim, and it started only after the release
    # (below). A loaded machine may add a read or two while the leader stops, so the
    # count is not pinned.
    assert other.net.calls[calls_before:][-2:] == ["get", "update"]
    assert [e[:2] for e in events] == [
        ("started", leader.rec.identity),
        ("stopped", leader.rec.identity),
        ("started", other.rec.identity),
    ]
    assert events[1][2] <= released_at < events[2][2]
    assert events[2][3] == token + 1


async def test_an_api_outage_stops_the_leader_and_a_leader_returns(
    request: pytest.FixtureRequest, fault_proxy: FaultProxy, proxied_kube: KubeClient
) -> None:
    """Every lease request answers 500 for longer than the renew deadline (a FaultProxy in
    front of the API server; both runners reach the server through it)."""
    events: Events = []
    async with open_kit("kubernetes", request, kube=proxied_kube) as kit:
        a, b = Runner(kit, "a", events), Runner(kit, "b", events)
        a.start()
        b.start()
        try:
            await eventually(lambda: a.elector.is_leader or b.elector.is_leader, "a leader")
            leader, _ = leader_of(a, b)
            fault_proxy.add(Window("status500", 0.0, float("inf"), path=rf"/leases/{NAME}$"))
            await eventually(lambda: leader.rec.count("stopped") == 1, "the leader to stop")
            assert not a.elector.is_leader
            assert not b.elector.is_leader
            outage_hits = fault_proxy.hits.get("status500", 0)
            fault_proxy.heal()
            await eventually(lambda: a.elector.is_leader or b.elector.is_leader, "a leader again")
            assert outage_hits > 0
            assert_no_overlap(leadership_intervals(events, time.monotonic()))
        finally:
            await a.stop()
            await b.stop()


async def test_a_recreated_lease_takes_the_token_floor_on_every_backend(
    real_kit: LeaseKit,
) -> None:
    """Issue 13: deleting a held lease restarts transitions at 0; the claim that follows
    writes the floor (storage's latest token + 1), and the backend stores it as given."""
    events: Events = []
    floor = {"value": 0}

    async def token_floor() -> int:
        return floor["value"]

    runner = Runner(real_kit, "a", events)
    runner.elector.token_floor = token_floor
    runner.start()
    try:
        await eventually(lambda: runner.elector.is_leader, "a leads")
        assert runner.elector.fencing_token == 0
        floor["value"] = 6  # storage accepted token 5 meanwhile (an earlier incarnation)
        await real_kit.delete(NAME)
        await eventually(lambda: runner.rec.count("started") == 2, "a leads the new lease")
        assert runner.elector.fencing_token == 6
        stored = await real_kit.backend(NAME).get()
        assert stored is not None
        assert stored.transitions == 6  # what the next holder increments and the operator reads
    finally:
        await runner.stop()
