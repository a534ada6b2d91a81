"""Answers remembered for a while: one read shared by concurrent askers, bounded in size.

Used where a role reads the API server on behalf of many requests (the
ingest's pools' webhook secrets, the dispatcher's signing secrets): a burst
costs one read, a changed Secret applies within the TTL, a failure is never
remembered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

#: Entries remembered at most, unless the cache is told otherwise.
DEFAULT_MAX_ENTRIES: Final = 4096

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def is_fresh(fetched_at: float, now: float, ttl_s: float) -> bool:
    """Whether an answer read at `fetched_at` may still be used at `now` (monotonic seconds).
    A clock that went back (it should not) counts as stale rather than fresh for ever."""
    return fetched_at <= now < fetched_at + ttl_s


def evictions(fetched: Mapping[K, float], now: float, ttl_s: float, max_entries: int) -> list[K]:
    """Which entries to drop before adding one more: every stale one, then the oldest
    (`fetched` in insertion order, oldest first) until there is room."""
    stale = [key for key, at in fetched.items() if not is_fresh(at, now, ttl_s)]
    dropped = set(stale)
    kept = [key for key in fetched if key not in dropped]
    excess = max(0, len(kept) + 1 - max_entries)
    return stale + kept[:excess]


@dataclass(frozen=True)
class _Entry(Generic[V]):
    value: V
    fetched_at: float


class TtlCache(Generic[K, V]):
    """Answers of `fetch` reused for `ttl_s` seconds; concurrent misses of a key share one
    call. A failed call is not remembered (the next request tries again)."""

    def __init__(
        self,
        fetch: Callable[[K], Awaitable[V]],
        *,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self._fetch = fetch
        self.ttl_s = ttl_s
        self._clock = clock
        self.max_entries = max_entries
        self._entries: dict[K, _Entry[V]] = {}
        self._pending: dict[K, asyncio.Task[V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        if entry is not None and is_fresh(entry.fetched_at, self._clock(), self.ttl_s):
            return entry.value
        task = self._pending.get(key)
        if task is None:
            task = asyncio.create_task(self._load(key))
            # Retrieved even when every waiter went away, so a failure is not reported
            # as "never retrieved".
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._pending[key] = task
        # One waiter leaving (a client hanging up) must not cancel the others' read.
        return await asyncio.shield(task)

    async def _load(self, key: K) -> V:
        started = self._clock()
        try:
            value = await self._fetch(key)
        finally:
            self._pending.pop(key, None)
        fetched = {k: e.fetched_at for k, e in self._entries.items() if k != key}
        for victim in evictions(fetched, started, self.ttl_s, self.max_entries):
            self._entries.pop(victim, None)
        self._entries.pop(key, None)
        self._entries[key] = _Entry(value, started)
        return value
