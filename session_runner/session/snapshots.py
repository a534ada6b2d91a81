"""When the leader snapshots its session, and what it reports about the last one.

Snapshots are taken only while leading, with the lease's fencing token:

- right after a fresh login (`snapshot_after_event`): the QR scan a person
  just made is the most valuable state the account has, and waiting for the
  interval would risk it;
- every `snapshot_interval_seconds` (`SnapshotSchedule.periodically`);
- on request (wafleet.io/snapshot-request, see requests.py) and once more on
  graceful stop; the runner calls `take` for those.

Storage refusing a write for a stale token (`FencedOutError`) is not a
snapshot failure: the schedule hands it to the runner (`on_fenced_out`, which
kills the engine and gives the lease up) and stops. Any other failure is
recorded for the report (`error`, SnapshotHealthy=False) and the next
snapshot tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from session_runner.session.engines.events import EngineEvent, LoggedIn
from session_runner.session.lease.fencing import FencedOutError

if TYPE_CHECKING:  # the snapshot layer loads only when a store is configured
    from session_runner.session.snapshot.snapshotter import SnapshotResult

log = logging.getLogger(__name__)

SnapshotHook = Callable[[Path, int], Awaitable[None]]


async def no_snapshot(session_dir: Path, token: int) -> None:
    """Without `spec.snapshot` there is nothing to restore or save: the session starts empty."""


def snapshot_after_event(event: EngineEvent, *, awaiting_login: bool, restored: bool) -> bool:
    """Pure: should this event trigger a snapshot now, ahead of the interval?

    Only a login that is new state: one that followed a QR or pairing code, or
    any login when nothing was restored. That is what a pod loss would cost a
    person another scan for. A restored session that WhatsApp accepts is
    already in the store, so snapshotting it again buys nothing (and costs the
    browser engine a quiesce).
    """
    return isinstance(event, LoggedIn) and (awaiting_login or not restored)


class SnapshotSchedule:
    """Takes the leader's snapshots and keeps what the report says about them."""

    def __init__(
        self,
        state_dir: Path,
        interval_seconds: float,
        *,
        on_fenced_out: Callable[[int, FencedOutError], None],
        after: Callable[[], Awaitable[None]],
    ) -> None:
        self._state_dir = state_dir
        self._interval = interval_seconds
        self._on_fenced_out = on_fenced_out
        self._after = after  # report the new facts
        self.hook: SnapshotHook = no_snapshot
        #: `status.runner.lastSnapshot`: the last snapshot this runner completed.
        self.last: dict[str, object] | None = None
        #: `status.runner.snapshotError`: why the last attempt failed; cleared by a success.
        self.error: str | None = None
        #: Did the last restore find a snapshot that is the store's latest (set by the
        #: runner's on_restore); a login then is not new state.
        self.restored = False

    def fresh_login(self, event: EngineEvent, *, awaiting_login: bool) -> bool:
        """`snapshot_after_event` with what this schedule knows about the last restore."""
        return snapshot_after_event(event, awaiting_login=awaiting_login, restored=self.restored)

    def record(self, result: SnapshotResult) -> None:
        """A snapshot completed (the snapshot layer's `on_snapshot` callback)."""
        self.last = {
            "id": result.id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "bytes": result.bytes_uploaded,
            "seconds": round(result.seconds, 3),
        }
        self.error = None

    async def take(self, token: int) -> None:
        """One snapshot; a refusal for a stale token is handed to the runner, then raised."""
        try:
            await self.hook(self._state_dir, token)
        except FencedOutError as error:
            self._on_fenced_out(token, error)
            raise
        except Exception as error:
            self.error = f"snapshot failed: {type(error).__name__}: {error}"[:500]
            log.error("%s", self.error)
        await self._after()

    async def take_quietly(self, token: int) -> None:
        """`take`, for callers with nothing to do on a refusal: it is already handled."""
        with contextlib.suppress(FencedOutError):
            await self.take(token)

    async def periodically(self, token: int) -> None:
        """Every interval while leading with `token`; ends at a refusal (the lease is given up)."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.take(token)
            except FencedOutError:
                return
