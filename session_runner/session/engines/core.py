"""The engine core: what every engine keeps the same way, whatever talks to WhatsApp.

The browser, protocol and local engines differ in how they reach WhatsApp;
they must not differ in what the runner sees (the contract in `base.py`). So
the parts of that contract that are bookkeeping live here, once:

- the phase machine: new → running → (conflicted) → stopping → stopped, or
  killed from anywhere; `begin()` starts once, `stop()` and `kill()` are the
  graceful and the immediate end, idempotent, with the engine's own teardown
  passed in;
- readiness: logged in and connected while running; `LoggedIn` and
  `Connected` are emitted once per transition, never repeated;
- the conflict fence: Conflict then Disconnected, never ready again;
- ack ordering: per message id acks only move forward (`AckStatus.supersedes`);
- the idempotency cache: a key that has sent returns the same id, and a key
  whose send is still in flight waits for it instead of sending twice;
- sends in flight (`InFlightSends`): stop, kill, conflict, logout interrupt them;
- `Backoff`: the one retry schedule for relaunches and reconnects.

Composition, not a base class: an engine *has* a core (`self._core`) and calls
it from its own methods. The engines' lifecycles differ in their middles
(Chromium relaunches, a Go client that cannot be stopped synchronously, a
simulation on a virtual clock); with a base class those middles would become
a web of overridable hooks, and every engine's `stop()` would be spread over
two classes. Here each engine's `stop()` reads top to bottom: the core's
sequence, with the engine's teardown passed as one function.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum

from session_runner.session.engines.base import (
    EngineError,
    EngineStopped,
    NotReady,
    SendInterrupted,
)
from session_runner.session.engines.events import (
    AckStatus,
    Conflict,
    Connected,
    Disconnected,
    EngineEvent,
    LoggedIn,
    LoggedOut,
    MessageAck,
    QrCode,
)
from session_runner.session.engines.inflight import InFlightSends
from session_runner.session.engines.stream import EventStream
from session_runner.session.engines.tasks import BackgroundTasks

__all__ = ["FINISHED", "Backoff", "EngineCore", "Phase"]

#: What a send fails with once the session was taken by another client.
CONFLICT_REASON = "the session was replaced by another client (conflict)"


class Phase(StrEnum):
    """Where an engine is in its one life."""

    NEW = "new"
    RUNNING = "running"
    CONFLICTED = "conflicted"
    STOPPING = "stopping"
    STOPPED = "stopped"
    KILLED = "killed"


FINISHED = (Phase.STOPPED, Phase.KILLED)

#: Disconnected reasons that say nothing new while the engine is already down.
_QUIET_WHEN_DOWN = frozenset({"connection lost", "logged out", "conflict"})


class Backoff:
    """Exponential retry delays: `initial`, doubling, capped at `maximum`; `reset()` starts over.

    `first` overrides the first delay only (0: retry at once, then back off),
    for a restart we caused on purpose rather than a failure.
    """

    def __init__(self, initial: float, maximum: float, *, first: float | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial if first is None else first

    def next(self) -> float:
        """The delay to wait now; the one after it doubles (at least `initial`, at most `maximum`)."""
        delay = self._next
        self._next = min(max(delay * 2, self.initial), self.maximum)
        return delay

    def reset(self) -> None:
        """It worked: the next failure waits `initial` again."""
        self._next = self.initial


class EngineCore:
    """One engine's shared state and the contract's bookkeeping; see the module docstring."""

    def __init__(
        self,
        owner: str,
        log: logging.Logger,
        *,
        fallback_jid: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.owner = owner
        self.fallback_jid = fallback_jid
        self.phase = Phase.NEW
        self.logged_in = False
        self.connected = False
        self.jid: str | None = None
        #: Bumped by every stop, kill and relaunch: callbacks of an older generation are stale.
        self.generation = 0
        self.stream = EventStream()
        self.tasks = BackgroundTasks(owner, log)
        self.in_flight = InFlightSends()
        self.finished = asyncio.Event()
        self._now = now
        self._acks: dict[str, AckStatus] = {}
        self._ids_by_key: dict[str, str] = {}
        self._sending: dict[str, asyncio.Future[str]] = {}

    # -- phases ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.phase is Phase.RUNNING

    @property
    def ready(self) -> bool:
        """Running, logged in and connected."""
        return self.phase is Phase.RUNNING and self.logged_in and self.connected

    def begin(self) -> None:
        """new → running; an engine starts once."""
        if self.phase is not Phase.NEW:
            raise EngineError(f"a {self.owner} starts once; make a new one")
        self.phase = Phase.RUNNING

    def check_started(self) -> None:
        """After an awaited start step: raise if stop() or kill() came meanwhile."""
        if self.phase is not Phase.RUNNING:
            raise EngineStopped(f"the engine was {self.phase} while starting")

    async def stop(self, teardown: Callable[[], Awaitable[None]]) -> bool:
        """The graceful end: interrupt sends, cancel tasks, `teardown()`, Disconnected, close.

        Idempotent; a second caller waits for the first. Returns whether this
        call did the stopping (False: already finished, or killed meanwhile).
        """
        if self.phase in FINISHED:
            return False
        if self.phase is Phase.STOPPING:
            await self.finished.wait()
            return False
        self.phase = Phase.STOPPING
        self.generation += 1
        was_connected = self.go_down()
        self.in_flight.interrupt("the engine was stopped")
        await self.tasks.cancel_and_wait()
        await teardown()
        if self.phase is Phase.KILLED:  # killed while we waited: kill() did the rest
            return False
        if was_connected:
            self.emit(Disconnected(reason="stopped", **self._at()))
        self.phase = Phase.STOPPED
        self.stream.close(drop_pending=False)
        self.finished.set()
        return True

    def kill(self, teardown: Callable[[], None]) -> bool:
        """The immediate end, synchronous: sends interrupted, tasks cancelled, queued events dropped.

        `teardown()` (synchronous too) then does the engine's part. Returns
        whether this call did the killing (False after stop() or kill()).
        """
        if self.phase in FINISHED:
            return False
        self.phase = Phase.KILLED
        self.generation += 1
        self.go_down()
        self.in_flight.interrupt("the engine was killed")
        self.tasks.cancel()
        self.stream.close(drop_pending=True)
        teardown()
        self.finished.set()
        return True

    # -- readiness and the events that move it ---------------------------------------

    def now(self) -> datetime | None:
        """`at` for events the core makes (None: the event's own default, now)."""
        return None if self._now is None else self._now()

    def emit(self, event: EngineEvent) -> None:
        """Hand an event to the runner (dropped once the stream is closed)."""
        self.stream.emit(event)

    def _at(self) -> dict[str, datetime]:
        at = self.now()
        return {} if at is None else {"at": at}

    def login(self, jid: str | None = None) -> None:
        """Logged in (once per transition): `LoggedIn` with `jid`, the known one, or the account's."""
        if self.logged_in:
            return
        self.logged_in = True
        self.jid = jid or self.jid or self.fallback_jid
        self.emit(LoggedIn(jid=self.jid or "unknown@s.whatsapp.net", **self._at()))

    def connect(self) -> None:
        """Connected (once per transition)."""
        if not self.connected:
            self.connected = True
            self.emit(Connected(**self._at()))

    def go_down(self, *, keep_login: bool = False) -> bool:
        """Not connected (and, unless `keep_login`, not logged in); return whether it was connected."""
        was_connected = self.connected
        self.connected = False
        if not keep_login:
            self.logged_in = False
        return was_connected

    def disconnect(self, reason: str, *, keep_login: bool = True) -> None:
        """The connection dropped: sends in flight end, `Disconnected` if it was up."""
        if self.go_down(keep_login=keep_login):
            self.emit(Disconnected(reason=reason, **self._at()))
        self.in_flight.interrupt(reason)

    def conflict(self, detail: str) -> None:
        """Stream replaced: fence. Conflict, then Disconnected; never ready again."""
        self.phase = Phase.CONFLICTED
        was_connected = self.go_down()
        self.in_flight.interrupt(CONFLICT_REASON)
        self.emit(Conflict(detail=detail, **self._at()))
        if was_connected:
            self.emit(Disconnected(reason="conflict", **self._at()))

    def apply(self, event: EngineEvent) -> None:
        """Engine state for one mapped event (browser or protocol mapper); emit what the contract says.

        Only while running: after a conflict, stop or kill, stale events are dropped.
        """
        if self.phase is not Phase.RUNNING:
            return
        if isinstance(event, QrCode):
            if not self.logged_in:  # a QR after login is a stale rotation
                self.emit(event)
        elif isinstance(event, LoggedIn):
            self.login(event.jid)
        elif isinstance(event, Connected):
            self.login()  # a restored session connects without a login event
            self.connect()
        elif isinstance(event, Disconnected):
            # Disconnected follows Connected; while already down only a failure
            # to connect (connect failure, stream error, ban) is worth telling.
            was_connected = self.go_down(keep_login=True)
            if was_connected or event.reason not in _QUIET_WHEN_DOWN:
                self.emit(event)
            self.in_flight.interrupt(event.reason)
        elif isinstance(event, LoggedOut):
            was_logged_in = self.logged_in
            self.logged_in = False
            self.in_flight.interrupt("logged out")
            if was_logged_in:
                self.emit(event)
        elif isinstance(event, Conflict):
            self.conflict(event.detail)
        elif isinstance(event, MessageAck):
            self.ack(event.message_id, event.status, event.error_code)
        else:  # InboundMessage, PairingCode, QuotaSignal: facts to pass on as they are
            self.emit(event)

    # -- acks ----------------------------------------------------------------------

    def ack(self, message_id: str, status: AckStatus, error_code: int | None = None) -> bool:
        """Emit `MessageAck` if it moves the message forward (regressions dropped); say if it did."""
        if not status.supersedes(self._acks.get(message_id)):
            return False
        self._acks[message_id] = status
        self.emit(
            MessageAck(message_id=message_id, status=status, error_code=error_code, **self._at())
        )
        return True

    # -- sends -----------------------------------------------------------------------

    def check_sendable(self, not_ready: str) -> None:
        """Raise what a send now must raise: `EngineStopped`, `NotReady` (conflict, not ready)."""
        if self.phase in (Phase.NEW, Phase.STOPPING, *FINISHED):
            raise EngineStopped(f"the engine is {self.phase}")
        if self.phase is Phase.CONFLICTED:
            raise NotReady(CONFLICT_REASON)
        if not self.ready:
            raise NotReady(not_ready)

    def sent_under(self, key: str) -> str | None:
        """The id a send under `key` returned, if one did (in this core's lifetime)."""
        return self._ids_by_key.get(key)

    async def send_once(self, key: str | None, send: Callable[[], Awaitable[str]]) -> str:
        """Run `send()` once per idempotency key: a key already sent returns its id, a key in
        flight waits for that send; a failed send leaves the key free to try again."""
        if key is None:
            return await send()
        if key in self._ids_by_key:
            return self._ids_by_key[key]
        if key in self._sending:
            return await asyncio.shield(self._sending[key])
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._sending[key] = future
        try:
            message_id = await send()
        except BaseException as error:
            if isinstance(error, Exception):
                future.set_exception(error)
            else:  # cancelled: whoever waits on the same key learns it may have left
                future.set_exception(SendInterrupted("the send under this key was cancelled"))
            future.exception()  # retrieved here, so never logged as "never retrieved"
            raise
        finally:
            del self._sending[key]
        self._ids_by_key[key] = message_id
        future.set_result(message_id)
        return message_id
