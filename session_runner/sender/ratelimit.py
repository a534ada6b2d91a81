"""The pool-wide rate limiter: every replica reserves send times from one DynamoDB item.

Item (in the ledger's table, key `id` = `ratelimit#<pool_key>`):

    id, tat (N), throttled_until (N), throttle_reason?, version (N, +1 per write)

Why the ledger's table: the limiter is one item per pool, written a few
times a second, and shares everything else with the ledger (the pool's
DynamoDB endpoint, credentials, IAM policy, provisioning). Message ids can
never contain '#' (`message.MESSAGE_ID_PATTERN`), so the key cannot collide
with a ledger entry. Its own table would buy nothing but a second thing to
create and permit.

Every reservation is `rate_decision.reserve` on the state read, written back
with PutItem conditional on `version` (compare-and-swap): a lost race
returns the winner's item (`ReturnValuesOnConditionCheckFailure`), and the
loser re-reserves from it after a small jittered pause. So reservations of
all replicas form one total order and the spacing proof in `rate_decision`
holds for the pool. The last state this replica wrote is kept and used for
the next reservation without reading first: when someone else wrote since,
the CAS fails and returns the current item, so an uncontended reservation
costs one write.

One replica has at most one reservation write in flight: concurrent
`acquire` calls (one per received batch) queue up, and each write reserves
for all of them at once (`rate_decision.share_out` splits the times, first
come first served). Before, they raced each other for the item: measured on
the moto server, three replicas at a rate that did not bind made 4.8 writes
per reservation, each lost race a round trip, about 300 ms per batch.

A reservation takes a round trip to reach the sender, so no slot is handed
out for earlier than that: `lead_s`, the slowest of the last few round trips
to the item (at most `MAX_LEAD_S`). Without it a free slot arrived late, and
the slots other replicas reserved right behind it shared its second.

Clocks: replicas use their own wall clocks (`time.time()`), both to compute
reservations and to sleep until the send times they got. When a replica's
clock runs δ ahead of another's, its sends leave δ early relative to the
other's: under backlog, where the schedule is driven by `tat` and not by
anyone's `now`, this shortens gaps between its sends and the other's by up
to δ and lengthens others. That is the same as arrival jitter of δ, which
`safety` absorbs (about 31 ms at 0.97, shared with network jitter); NTP or
chrony keep nodes within a few milliseconds. A clock far behind only delays
its own sends (its `now` is earlier than `tat`); a clock far ahead (beyond
the jitter budget) can let that replica's sends cluster with others' and
exceed the limit in a window by the overlap, so skew beyond ~10 ms is an
operational fault to alert on, not something the limiter can mask.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from session_runner.sender.ledger import (
    HASH_KEY,
    ConditionFailedError,
    call_dynamodb,
    ensure_table,
)
from session_runner.sender.rate_decision import (
    DEFAULT_HORIZON_S,
    DEFAULT_SAFETY,
    RateState,
    reserve,
    share_out,
    spacing,
    throttle,
)

__all__ = ["KEY_PREFIX", "PoolRateLimiter", "RateLimitError", "RateState"]

KEY_PREFIX: Final = "ratelimit#"
#: Lost CAS races in one call before giving up. Each loss means another replica reserved, so
#: losing this often in a row (seconds of pauses) means something else rewrites the item.
MAX_CONFLICTS: Final = 256
#: The pause after a lost race is uniform in [0, min(cap, base·2^losses)).
_BACKOFF_BASE_S: Final = 0.002
_BACKOFF_CAP_S: Final = 0.05
#: The most a free slot is put off for the round trip (a DynamoDB write takes milliseconds).
MAX_LEAD_S: Final = 0.25
#: How many recent round trips the lead is the slowest of.
_ROUND_TRIPS_KEPT: Final = 8


class RateLimitError(Exception):
    """DynamoDB failed, or the state kept changing for MAX_CONFLICTS tries."""


@dataclass(frozen=True)
class _Demand:
    """One waiting `acquire` call: how many times it asked for, and where they go."""

    want: int
    granted: asyncio.Future[list[float]]


class PoolRateLimiter:
    """Pool `pool_key`'s limiter in `table`, at `rate_per_s` across all replicas.

    `clock` and `sleep` are the wall clock and the way to wait on it (the
    defaults in production; tests pass a virtual clock).
    """

    def __init__(
        self,
        client: Any,
        table: str,
        pool_key: str,
        rate_per_s: float,
        *,
        safety: float = DEFAULT_SAFETY,
        horizon_s: float = DEFAULT_HORIZON_S,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not pool_key:
            raise ValueError("pool_key must name the pool")
        spacing(rate_per_s, safety)  # validates both
        self.client = client
        self.table = table
        self.key = f"{KEY_PREFIX}{pool_key}"
        self.rate_per_s = rate_per_s
        self.safety = safety
        self.horizon_s = horizon_s
        self._clock = clock
        self._sleep = sleep
        self._known: RateState | None = None
        self._known_at = float("-inf")  # when `_known` was last seen to be the stored state
        self._random = random.Random()
        self._demands: deque[_Demand] = deque()
        self._serving: asyncio.Task[None] | None = None
        self._round_trips: deque[float] = deque(maxlen=_ROUND_TRIPS_KEPT)

    async def ensure_table(self) -> None:
        """Create the (ledger's) table if missing: for development, tests and the demo."""
        await asyncio.to_thread(ensure_table, self.client, self.table)

    async def acquire(self, n: int = 1) -> list[float]:
        """Between 1 and `n` wall-clock send times, ascending; sleep until each before sending.

        Fewer than `n` when the horizon (how far ahead one replica may
        reserve) holds fewer; when it holds none (backlog, or the pool is
        throttled) this waits until it does. Calls made while a reservation
        is being written wait for the next write, which serves them all.
        Raises RateLimitError.
        """
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        demand = _Demand(n, asyncio.get_running_loop().create_future())
        self._demands.append(demand)
        if self._serving is None or self._serving.done():
            self._serving = asyncio.create_task(self._serve())
        return await demand.granted

    async def _serve(self) -> None:
        """Reserve for every waiting call at once until none waits; one write in flight."""
        while self._demands:
            waiting = [d for d in self._demands if not d.granted.done()]
            self._demands.clear()
            if not waiting:
                return
            try:
                times = await self._reserve(sum(d.want for d in waiting))
            except Exception as error:  # every waiting call fails alike
                for demand in waiting:
                    if not demand.granted.done():
                        demand.granted.set_exception(error)
                continue
            unserved: list[_Demand] = []
            shares = share_out(times, [d.want for d in waiting])
            for demand, share in zip(waiting, shares, strict=True):
                if demand.granted.done():
                    continue  # its caller is gone (cancelled): those times go unused
                if share:
                    demand.granted.set_result(list(share))
                else:
                    unserved.append(demand)
            self._demands.extendleft(reversed(unserved))  # first in line for the next write

    async def _reserve(self, n: int) -> list[float]:
        """Between 1 and `n` send times from one successful write (see `acquire`)."""
        state = self._known if self._known is not None else await self.state()
        conflicts = 0
        while True:
            now = self._clock()
            reservation = reserve(
                state,
                now,
                n,
                self.rate_per_s,
                safety=self.safety,
                horizon_s=self.horizon_s,
                lead_s=self.lead_s,
            )
            if not reservation.send_at:
                assert reservation.retry_at is not None
                await self._sleep(max(0.0, reservation.retry_at - now))
                continue
            try:
                await self._write(state, reservation.new_state)
            except ConditionFailedError as lost:
                conflicts += 1
                state = await self._after_conflict(lost, conflicts)
                continue
            return list(reservation.send_at)

    @property
    def lead_s(self) -> float:
        """How far past `now` the first free slot is put: the slowest recent round trip."""
        return min(MAX_LEAD_S, self.horizon_s / 2, max(self._round_trips, default=0.0))

    async def throttle(self, retry_after_s: float, reason: str) -> None:
        """The vendor said stop: no replica sends before now + `retry_after_s`.

        Never shortens a throttle already in force. Reservations already
        handed out (at most one horizon of sends) are not recalled.
        """
        state = self._known if self._known is not None else await self.state()
        conflicts = 0
        while True:
            new_state = throttle(state, self._clock(), retry_after_s, reason)
            if new_state == state:
                return
            try:
                await self._write(state, new_state)
            except ConditionFailedError as lost:
                conflicts += 1
                state = await self._after_conflict(lost, conflicts)
                continue
            return

    async def recent_state(self, max_age_s: float) -> RateState:
        """The state as last read or written by this replica, if that was within `max_age_s`;
        else read it. For checks that may lag a little (whether to receive during a pause):
        reservations never do, a lost CAS hands them the current state."""
        if self._known is not None and self._clock() - self._known_at <= max_age_s:
            return self._known
        return await self.state()

    async def state(self) -> RateState:
        """The pool's current state (strongly consistent read): `throttled(now)`,
        `throttled_until` and `throttle_reason` are the pool's Throttled condition."""
        response = await self._call(
            "read",
            self.client.get_item,
            TableName=self.table,
            Key={HASH_KEY: {"S": self.key}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        self._known = _state(item) if item else RateState()
        self._known_at = self._clock()
        return self._known

    async def _write(self, expected: RateState, new_state: RateState) -> None:
        if expected.version == 0:
            condition = {"ConditionExpression": "attribute_not_exists(#id)"}
            names = {"#id": HASH_KEY}
            values: dict[str, Any] = {}
        else:
            condition = {"ConditionExpression": "#version = :expected"}
            names = {"#version": "version"}
            values = {"ExpressionAttributeValues": {":expected": {"N": str(expected.version)}}}
        await self._call(
            "write",
            self.client.put_item,
            TableName=self.table,
            Item=self._item(new_state),
            ExpressionAttributeNames=names,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **condition,
            **values,
        )
        self._known = new_state
        self._known_at = self._clock()

    async def _after_conflict(self, lost: ConditionFailedError, conflicts: int) -> RateState:
        """The winner's state, after a jittered pause (so racing replicas spread out)."""
        if conflicts > MAX_CONFLICTS:
            raise RateLimitError(f"rate limiter {self.key}: {conflicts} lost races in one call")
        self._known = _state(lost.old_item) if lost.old_item else RateState()
        self._known_at = self._clock()
        pause = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** min(conflicts, 16))
        await self._sleep(self._random.uniform(0.0, pause))
        return self._known

    def _item(self, state: RateState) -> dict[str, Any]:
        item: dict[str, Any] = {
            HASH_KEY: {"S": self.key},
            "tat": {"N": repr(state.tat)},
            "throttled_until": {"N": repr(state.throttled_until)},
            "version": {"N": str(state.version)},
        }
        if state.throttle_reason is not None:
            item["throttle_reason"] = {"S": state.throttle_reason}
        return item

    async def _call(self, operation: str, method: Any, **kwargs: Any) -> dict[str, Any]:
        started = self._clock()
        try:
            return await call_dynamodb(
                method, what=f"rate limiter {self.key} {operation}", error=RateLimitError, **kwargs
            )
        finally:
            self._round_trips.append(max(0.0, self._clock() - started))


def _state(item: dict[str, Any]) -> RateState:
    reason = item.get("throttle_reason")
    return RateState(
        tat=float(item["tat"]["N"]),
        throttled_until=float(item["throttled_until"]["N"]),
        throttle_reason=str(reason["S"]) if reason else None,
        version=int(item["version"]["N"]),
    )
