"""A subscriber's failed attempts in the last 24 hours, and when that means "switch it off".

Pure. The window is the failure times themselves (not a counter per hour):
"more than N failures in any 24 hours" must switch a subscriber off at
exactly the (N+1)th failure, and an hourly counter would be off by up to an
hour at each end. Only the last N+1 times are kept: more can never matter,
so the stored window is bounded by the subscription's own limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

WINDOW_S: Final = 86400.0


def recorded(
    failures: Sequence[float], at: float, limit: int, window_s: float = WINDOW_S
) -> tuple[float, ...]:
    """`failures` with one more at `at`: those older than the window dropped, the rest
    ascending, at most `limit + 1` (the most that can decide anything)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    kept = sorted(t for t in (*failures, at) if t > at - window_s)
    return tuple(kept[-(limit + 1) :])


def in_window(failures: Sequence[float], now: float, window_s: float = WINDOW_S) -> int:
    """How many of `failures` fall in the 24 hours before `now` (status.failuresLast24h)."""
    return sum(1 for t in failures if now - window_s < t <= now)


def over_limit(
    failures: Sequence[float], now: float, limit: int, window_s: float = WINDOW_S
) -> bool:
    """More than `limit` failures in the window ending at `now`: tombstone."""
    return in_window(failures, now, window_s) > limit
