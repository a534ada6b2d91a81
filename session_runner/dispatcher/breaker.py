"""One subscriber's circuit breaker, per dispatcher replica. Pure.

A subscriber that keeps failing (down, or timing out) would otherwise take
an attempt, and for a timeout the whole `timeoutSeconds`, for every event it
is sent. After `threshold` failures in a row the breaker opens: for a
cooldown no attempt is made (the deliveries wait on the retry queue, and are
not counted as failures: nothing was tried), then one attempt goes through
(half-open). Its success closes the breaker; its failure opens it again for
twice as long, up to `max_cooldown_s`, so a subscriber that stays down costs
fewer and fewer wake-ups. This is what keeps ten dead subscribers from
costing the healthy ones anything: the dead ones stop being tried at all.
Only unavailability counts (timeouts, no connection, 408, 429, 5xx): a 4xx is
an answer from a subscriber that is up, and its breaker stays closed.

The deliveries held back come back spread over half a cooldown after the
breaker reopens (`comes_back_at`), not all at once: a thousand waiting jobs
arriving together would all find the probe out and go round again; spread
out, those arriving after a successful probe are delivered.

Per replica, in memory: each replica learns on its own within `threshold`
attempts, and losing that state in a restart costs only those attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_THRESHOLD: Final = 5
DEFAULT_COOLDOWN_S: Final = 30.0
#: The longest cooldown: SQS's longest delay, so a held-back job waits on one message.
MAX_COOLDOWN_S: Final = 900.0


@dataclass(frozen=True)
class Breaker:
    failures_in_a_row: int = 0
    open_until: float = 0.0  # no attempts before this (0: closed)
    probing: bool = False  # the half-open attempt is out
    opened: int = 0  # times opened since the last success (sets the cooldown)

    def allows(self, now: float) -> bool:
        """Whether an attempt may go now: closed, or open with the cooldown over and no probe
        out yet (the caller then marks the probe with `probe`)."""
        if self.open_until == 0.0:
            return True
        return now >= self.open_until and not self.probing


def cooldown(
    opened: int, *, base_s: float = DEFAULT_COOLDOWN_S, max_s: float = MAX_COOLDOWN_S
) -> float:
    """How long the breaker stays open the `opened`-th time in a row: doubling, capped."""
    return min(max_s, base_s * 2.0 ** max(0, opened - 1))


def probe(breaker: Breaker) -> Breaker:
    """An attempt went out while the breaker was open (the half-open probe)."""
    if breaker.open_until == 0.0:
        return breaker
    return Breaker(breaker.failures_in_a_row, breaker.open_until, True, breaker.opened)


def after(
    breaker: Breaker,
    succeeded: bool,
    now: float,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    cooldown_s: float = DEFAULT_COOLDOWN_S,
    max_cooldown_s: float = MAX_COOLDOWN_S,
) -> Breaker:
    """The breaker after an attempt that `succeeded` or not.

    A failure that lands while the breaker is open and no probe is out came from an
    attempt made before it opened: it is counted but opens nothing anew."""
    if succeeded:
        return Breaker()
    failures = breaker.failures_in_a_row + 1
    if breaker.open_until != 0.0 and not breaker.probing:
        return Breaker(failures, breaker.open_until, False, breaker.opened)
    if breaker.probing or failures >= threshold:
        opened = breaker.opened + 1
        until = now + cooldown(opened, base_s=cooldown_s, max_s=max_cooldown_s)
        return Breaker(failures, until, False, opened)
    return Breaker(failures)


def comes_back_at(
    breaker: Breaker,
    now: float,
    draw: float,
    *,
    cooldown_s: float = DEFAULT_COOLDOWN_S,
    max_cooldown_s: float = MAX_COOLDOWN_S,
) -> float:
    """When a delivery this breaker held back is tried again: after the reopening (or, with
    the probe out, a cooldown from now), spread by `draw` ∈ [0, 1) over half a cooldown."""
    wait = cooldown(max(1, breaker.opened), base_s=cooldown_s, max_s=max_cooldown_s)
    start = now + wait if breaker.probing or breaker.open_until <= now else breaker.open_until
    return start + draw * wait / 2
