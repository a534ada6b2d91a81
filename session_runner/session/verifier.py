"""Answering wafleet.io/verify-request: verify the latest snapshot, report `lastVerify`.

The download and checks run in worker threads (the snapshot layer's hook):
the lease loop and the engine never wait for them. One verification runs at a
time; a later request queues behind it. The answer names the request it
answers, so `wafleet verify --wait` knows it is its own. A verification that
outlives the lease still reports, but without a token, so the operator
ignores it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from session_runner.session.snapshot.verify import VerifyHook, VerifyOutcome, last_verify_status

log = logging.getLogger(__name__)


async def no_verify() -> VerifyOutcome:
    """Without a store there is nothing to verify; the request is still answered."""
    return VerifyOutcome(None, error="snapshots are not configured (spec.snapshot)")


class Verifier:
    """Runs verifications one at a time and keeps the last answer for the report."""

    def __init__(self, after: Callable[[], Awaitable[None]]) -> None:
        self._after = after  # report the new facts
        self._lock = asyncio.Lock()
        self.hook: VerifyHook = no_verify
        #: `status.runner.lastVerify`: the answer to the last request.
        self.last: dict[str, object] | None = None

    async def answer(self, request: str) -> None:
        """Verify the latest snapshot for `request`, record the answer and report it."""
        async with self._lock:
            log.info("verification of the latest snapshot requested (%s)", request)
            try:
                outcome = await self.hook()
            except Exception as error:  # the hook should not raise; the request is answered anyway
                outcome = VerifyOutcome(None, error=f"verification failed: {type(error).__name__}")
            self.last = last_verify_status(request, outcome, datetime.now(UTC))
            await self._after()
