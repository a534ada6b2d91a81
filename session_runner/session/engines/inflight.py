"""Sends in flight, and what interrupts them: shared by every engine (through the core).

A send waits for WhatsApp's answer, but the engine may stop, be killed, crash
or be told its session was replaced while it waits. Each of those must end the
wait at once with `SendInterrupted` (the message may or may not have left), and
a peer that never answers must end it too. Every send therefore races its call
against an interrupt future that `interrupt()` fails, and against a timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any

from session_runner.session.engines.base import SendInterrupted


class InFlightSends:
    """The interrupt futures of the sends now waiting for an answer."""

    def __init__(self) -> None:
        self._interrupts: set[asyncio.Future[None]] = set()

    async def wait(
        self, task: asyncio.Future[Any], *, answer_within_s: float | None, no_answer: str
    ) -> None:
        """Return once `task` is done (its result or exception is the engine's to read);
        raise `SendInterrupted` when interrupted meanwhile or when no answer came in time
        (`answer_within_s=None`: no time limit, for a peer whose time is simulated)."""
        interrupt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._interrupts.add(interrupt)
        waited: set[asyncio.Future[Any]] = {task, interrupt}
        try:
            done, _ = await asyncio.wait(
                waited, timeout=answer_within_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._interrupts.discard(interrupt)
        if interrupt.done() and (error := interrupt.exception()) is not None:
            task.cancel()  # interrupted: even an answer in the same turn may not count
            raise error
        if task not in done:
            task.cancel()
            raise SendInterrupted(no_answer)

    def interrupt(self, why: str) -> None:
        """End every waiting send with `SendInterrupted(why)`."""
        for future in list(self._interrupts):
            if not future.done():
                future.set_exception(SendInterrupted(why))
        self._interrupts.clear()
