"""The pool-wide rate limiter's schedule: GCRA over one shared state. Pure.

Every replica of a SenderPool reserves send times from one shared state (a
DynamoDB item, `ratelimit.py`), written back with a compare-and-swap on
`version`, so reservations are serialised in one total order however many
replicas there are. The state is GCRA's (the generic cell rate algorithm):
`tat`, the theoretical arrival time of the next send, plus `throttled_until`,
before which nobody sends (a vendor's 429 or quota answer, `throttle`).

The spacing (with `burst` 1, the default and what the pool uses)

    T = 1 / (capacity · safety) + FLOAT_SLACK_S,
    capacity = floor(rate) for rate ≥ 1, else rate

is the brief's `1/(rate·safety)` for whole-number rates. For a rate like
10.5/s it is floored: a one-second window can only hold whole sends, so the
most any window may hold without exceeding 10.5/s is 10, and spacing for
10.5 would put 11 into some windows.

Claim: any half-open window [a, a + w) holds at most ceil(w / T') send
times, T' = 1 / (capacity · safety); for w = 1 that is ceil(capacity · safety)
≤ capacity ≤ rate.

Proof. Let s_1, s_2, ... be all send times ever granted, in the order of the
state writes (the CAS makes that a total order). Within one reservation each
time is `max(now, tat, throttled_until)` and then `tat` becomes that time
plus T, so the next is ≥ the previous + T; the next reservation starts from
the written `tat` (or later: `now`, `throttled_until`), and `throttle` only
moves `tat` forward. So the sequence is increasing with every gap ≥ T. If k
times fall into [a, a + w), the k - 1 gaps between the first and the last
span less than w: (k - 1)·T < w, so k - 1 < w / T ≤ w / T', and k is at most
ceil(w / T'). (For an integer x, k - 1 < x gives k ≤ x; otherwise
k - 1 ≤ floor(x), k ≤ ceil(x).) `FLOAT_SLACK_S` (1 µs) keeps this true of
the float values too: an epoch time around 1.7e9 has a resolution of about
0.24 µs, so each rounded gap stays ≥ 1/(capacity·safety).

Why `safety` < 1 (default 0.97). The vendor counts *arrivals*, not our send
times: arrival = send time + latency, and latency varies by a spread J
(network, TLS, the event loop waking late, clock skew between replicas, see
`ratelimit.py`). Arrivals in a one-second window were sent within a window
of 1 + J seconds, which holds at most ceil((1 + J)·capacity·safety) sends:
that stays ≤ capacity as long as J ≤ 1/safety - 1, about 31 ms at 0.97.
Under backlog the schedule is back to back, so the pool sends at
capacity·safety = 97 % of a whole-number limit: above the 95 % goal with
room to spare, while 0.95 would tolerate 53 ms but leave no margin for the
goal. (For rates below 1/s, measure over windows of 1/rate seconds.)

How far ahead a replica may reserve (`horizon_s`, default 1 s): a
reservation only gets send times up to `now + horizon_s`, fewer than asked
for if need be, none when the next free slot is further out (the caller
waits until `retry_at`). A replica that reserves and then idles or dies
wastes at most one horizon of the pool's capacity, and a vendor's 429 delays
everything not yet reserved: at most one horizon of sends already handed
out still go at their times (a sender may check the throttle before each
send to avoid even that).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from session_runner.sender.ledger_decision import bound_reason

#: The share of the limit the pool aims for; the rest absorbs arrival jitter (see above).
DEFAULT_SAFETY: Final = 0.97
#: How far into the future one reservation may reach.
DEFAULT_HORIZON_S: Final = 1.0
#: Added to every gap so float rounding of epoch seconds never shrinks one below 1/rate.
FLOAT_SLACK_S: Final = 1e-6


@dataclass(frozen=True)
class RateState:
    """The pool's shared limiter state; `version` counts writes (the CAS compares it).

    All times are wall-clock epoch seconds. The zero state is a pool that
    never sent: its first reservation starts at `now`.
    """

    tat: float = 0.0
    throttled_until: float = 0.0
    throttle_reason: str | None = None
    version: int = 0

    def throttled(self, now: float) -> bool:
        return now < self.throttled_until


@dataclass(frozen=True)
class Reservation:
    """The send times granted (ascending, possibly fewer than asked) and the state to write.

    When nothing was granted `new_state` is the state read (nothing to write)
    and `retry_at` says when the first free slot comes within the horizon.
    """

    new_state: RateState
    send_at: tuple[float, ...]
    retry_at: float | None = None


def capacity(rate_per_s: float) -> float:
    """The most sends a one-second window may hold: whole sends for rates of 1/s and above."""
    return float(math.floor(rate_per_s)) if rate_per_s >= 1 else rate_per_s


def spacing(rate_per_s: float, safety: float = DEFAULT_SAFETY) -> float:
    """T: the gap between consecutive send times of the pool (see the module docstring)."""
    _check_rate(rate_per_s, safety)
    return 1.0 / (capacity(rate_per_s) * safety) + FLOAT_SLACK_S


def reserve(
    state: RateState,
    now: float,
    n: int,
    rate_per_s: float,
    *,
    burst: int = 1,
    safety: float = DEFAULT_SAFETY,
    horizon_s: float = DEFAULT_HORIZON_S,
    lead_s: float = 0.0,
) -> Reservation:
    """Up to `n` send times, T apart, none before `now + lead_s` or `throttled_until`, none
    after `now + horizon_s`.

    `lead_s` is how long the reservation takes to reach the sender (the write's round
    trip): a free slot at `now` itself would be late on arrival, and the slots other
    replicas reserve right behind it would share its second with it. Measured: at
    start-up, when the first write took 40-45 ms, that send and the next ten fell
    into one second at 10/s.

    GCRA's virtual scheduling, one send at a time: a send may go at
    `max(now, tat - (burst - 1)·T, throttled_until)` and moves `tat` to
    `max(tat, that) + T`. With `burst` b > 1 an idle pool may send b at
    once, and a window may then hold up to b - 1 more than the bound in the
    module docstring: the pool keeps 1.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if burst < 1:
        raise ValueError(f"burst must be at least 1, got {burst}")
    if not horizon_s > 0:
        raise ValueError(f"horizon_s must be positive, got {horizon_s}")
    if not 0 <= lead_s < horizon_s:
        raise ValueError(f"lead_s must be in [0, horizon_s), got {lead_s}")
    gap = spacing(rate_per_s, safety)
    tolerance = (burst - 1) * gap
    latest = now + horizon_s
    earliest = now + lead_s
    tat = state.tat
    times: list[float] = []
    for _ in range(n):
        at = max(earliest, tat - tolerance, state.throttled_until)
        if at > latest:
            break
        times.append(at)
        tat = max(tat, at) + gap
    if not times:
        first = max(earliest, state.tat - tolerance, state.throttled_until)
        return Reservation(state, (), retry_at=first - horizon_s)
    return Reservation(replace(state, tat=tat, version=state.version + 1), tuple(times))


def share_out(times: Sequence[float], wants: Sequence[int]) -> list[tuple[float, ...]]:
    """Split one reservation's `times` among callers that asked for `wants`, first come
    first served: each gets up to what it asked for, in order; the rest may get none.

    Why: a replica's concurrent `acquire` calls are served by one write for all of
    them, instead of racing each other (and the other replicas) for the same item.
    """
    shares: list[tuple[float, ...]] = []
    start = 0
    for want in wants:
        if want < 1:
            raise ValueError(f"every want must be at least 1, got {want}")
        shares.append(tuple(times[start : start + want]))
        start += len(shares[-1])
    return shares


def throttle(state: RateState, now: float, retry_after_s: float, reason: str) -> RateState:
    """The vendor said stop for `retry_after_s`: nobody sends before `now + retry_after_s`.

    `throttled_until` only moves forward (a shorter, later 429 never cuts a
    longer one short; the state is then returned unchanged, reason included),
    and `tat` moves with it, so the next reservation starts there.
    """
    if not math.isfinite(retry_after_s) or retry_after_s < 0:
        raise ValueError(f"retry_after_s must be a finite number ≥ 0, got {retry_after_s}")
    until = now + retry_after_s
    if until <= state.throttled_until:
        return state
    return RateState(
        tat=max(state.tat, until),
        throttled_until=until,
        throttle_reason=bound_reason(reason),
        version=state.version + 1,
    )


def _check_rate(rate_per_s: float, safety: float) -> None:
    if not (math.isfinite(rate_per_s) and rate_per_s > 0):
        raise ValueError(f"rate_per_s must be a positive number, got {rate_per_s}")
    if not 0 < safety <= 1:
        raise ValueError(f"safety must be in (0, 1], got {safety}")


#: How late a sender may wake for its send time and still use it: part of the ~31 ms of
#: latency spread `safety` absorbs (see above), the rest left for the network.
LATE_TOLERANCE_S: Final = 0.010


def too_late_for_slot(send_at: float, now: float, tolerance_s: float = LATE_TOLERANCE_S) -> bool:
    """Whether a send reaching its slot `send_at` at `now` must take a new slot instead.

    A loaded machine wakes sleepers late and starts tasks late; a send that goes out
    more than the spread `safety` absorbs after its time shares a one-second window
    with the next slots, and the pool goes over the vendor's limit. Giving the slot up
    costs one slot's worth of rate; keeping it could cost a 429 for the whole pool.
    (A reservation's own round trip is no reason to be late: `reserve`'s `lead_s`.)
    """
    return now - send_at > tolerance_s
