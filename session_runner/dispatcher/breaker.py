"""One subscriber's circuit breaker, per dispatcher replica. Pure.

A subscriber that keeps failing (down, or timing out) would otherwise take
an attempt, and for a timeout the whole `timeoutSeconds`, for every event it
is sent. After `threshold` failures in a row the breaker opens: for
`cooldown_s` no attempt is made (the deliveries wait on the retry queue until
it closes, and are not counted as failures: nothing was tried), then one
attempt goes through (half-open). Its success closes the breaker, its failure
opens it for another cooldown. This is what keeps ten dead subscribers from
costing the healthy ones anything: the dead ones stop being tried at all.
Only unavailability counts (timeouts, no connection, 408, 429, 5xx): a 4xx is
an answer from a subscriber that is up, and its breaker stays closed.

Per replica, in memory: each replica learns on its own within `threshold`
attempts, and losing that state in a restart costs only those attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_THRESHOLD: Final = 5
DEFAULT_COOLDOWN_S: Final = 30.0


@dataclass(frozen=True)
class Breaker:
    failures_in_a_row: int = 0
    open_until: float = 0.0  # no attempts before this (0: closed)
    probing: bool = False  # the half-open attempt is out

    def allows(self, now: float) -> bool:
        """Whether an attempt may go now: closed, or open with the cooldown over and no probe
        out yet (the caller then marks the probe with `probe`)."""
        if self.open_until == 0.0:
            return True
        return now >= self.open_until and not self.probing


def probe(breaker: Breaker) -> Breaker:
    """An attempt went out while the breaker was open (the half-open probe)."""
    if breaker.open_until == 0.0:
        return breaker
    return Breaker(breaker.failures_in_a_row, breaker.open_until, probing=True)


def after(
    breaker: Breaker,
    succeeded: bool,
    now: float,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    cooldown_s: float = DEFAULT_COOLDOWN_S,
) -> Breaker:
    """The breaker after an attempt that `succeeded` or not."""
    if succeeded:
        return Breaker()
    failures = breaker.failures_in_a_row + 1
    if failures >= threshold:
        return Breaker(failures, now + cooldown_s)
    return Breaker(failures)
