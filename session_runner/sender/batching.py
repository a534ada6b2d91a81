"""Many callers' entries, one batch call: what `PoolQueue`'s SQS deletes and sends and
`publish.TopicPublisher`'s SNS publishes go through.

A caller asks for its entries and waits for their outcome; the entries asked
for within `linger_s` (or `MAX_BATCH` of them) go out in one batch call
(DeleteMessageBatch, SendMessageBatch, PublishBatch), which takes a round trip
per ten entries instead of one each. SQS and SNS answer a batch entry by entry
(`Failed` items naming the entry's `Id`), so each caller hears only about its
own: done, or refused with the service's code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Final, Generic, TypeVar

MAX_BATCH: Final = 10  # SQS's and SNS's limit per batch call

Entry = TypeVar("Entry")


class Coalescer(Generic[Entry]):
    """`call(entries)` makes one batch call (blocking boto3: run in a thread) and returns
    the service's answer, whose `Failed` items name an entry by its index as `Id`; `refused(code)`
    is the exception a refused entry's caller gets."""

    def __init__(
        self,
        call: Callable[[list[Entry]], dict[str, Any]],
        linger_s: float,
        refused: Callable[[str], Exception],
    ) -> None:
        self._call = call
        self.linger_s = linger_s
        self._refused = refused
        self._waiting: list[tuple[Entry, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._calls: set[asyncio.Task[None]] = set()

    def add(self, entries: Sequence[Entry]) -> list[asyncio.Future[None]]:
        """Queue `entries` for the next batch call; a future per entry, settled with its
        outcome."""
        loop = asyncio.get_running_loop()
        futures = []
        for entry in entries:
            done: asyncio.Future[None] = loop.create_future()
            self._waiting.append((entry, done))
            futures.append(done)
        if len(self._waiting) >= MAX_BATCH:
            self._flush()
        elif self._timer is None and self._waiting:
            self._timer = loop.call_later(self.linger_s, self._flush)
        return futures

    def _flush(self) -> None:
        """Make the waiting entries' calls, ten at a time."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            task = asyncio.create_task(self._make(batch))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def _make(self, batch: list[tuple[Entry, asyncio.Future[None]]]) -> None:
        try:
            answer = await asyncio.to_thread(self._call, [entry for entry, _ in batch])
        except Exception as error:
            for _, done in batch:
                if not done.done():
                    done.set_exception(error)
            return
        refused = {str(item.get("Id")): item for item in answer.get("Failed", [])}
        for n, (_, done) in enumerate(batch):
            if done.done():
                continue
            refusal = refused.get(str(n))
            if refusal is None:
                done.set_result(None)
            else:
                done.set_exception(self._refused(str(refusal.get("Code"))))
