"""LocalEngine: a deterministic, in-process stand-in for a WhatsApp peer.

It keeps the whole `Engine` contract (see `base.py`) without a network, so the
runner, the snapshot layer, the lease fault harness, benchmarks and the demo
can run the real session loop anywhere:

- login: a QR payload rotating every `qr_rotate_s` until `approve_login()`
  (the user "scans"), or automatically after `auto_login_after_s`; login
  writes `local-session.json` into the session dir, so a session restored from
  a snapshot logs in again without a QR, exactly the property snapshots exist
  for;
- sends: message ids like WhatsApp Web's (`3EB0` + 16 hex), acks
  sent → delivered → read after configurable delays, failures at
  `failure_rate`, and a quota (463/475 behaviour) after `quota_after_n` sends;
- injections for tests and demos: inbound messages, conflict ("stream
  replaced"), logout, disconnect and reconnect.

Determinism: every random choice comes from `random.Random` streams seeded
from `seed` (one stream per purpose, so adding a QR rotation does not change
the message ids), and all waiting goes through an injectable `Clock`. Tests
pass a `VirtualClock` and move time with `await clock.advance(seconds)`: no
real sleeps, no timed assertions.

Activity log: with `activity_log` set, the engine appends one JSON line when
it becomes active (start succeeded) and when it becomes inactive (stop, kill,
conflict), fsynced before the call returns, so a SIGKILL right after still
leaves the line. `t` is `time.monotonic()`: CLOCK_MONOTONIC is system-wide on
Linux, so lines from several runner processes order on one clock, which is
what the lease fault harness needs to prove two engines were never active at
once. These writes (and the tiny session file) are synchronous on purpose:
`kill()` must record before it returns, without awaiting.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import heapq
import itertools
import json
import logging
import os
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from session_runner.engines.base import (
    Engine,
    EngineError,
    EngineStopped,
    NotReady,
    SendInterrupted,
    SendRejected,
    normalize_jid,
)
from session_runner.engines.events import (
    AckStatus,
    Conflict,
    Connected,
    Disconnected,
    EngineEvent,
    InboundMessage,
    LoggedIn,
    LoggedOut,
    MediaInfo,
    MediaRef,
    MessageAck,
    PairingCode,
    QrCode,
    QuotaSignal,
)
from session_runner.engines.stream import EventStream
from session_runner.engines.tasks import BackgroundTasks

log = logging.getLogger(__name__)

#: The file a login leaves in the session dir; its presence means "logged in before".
SESSION_FILE = "local-session.json"

_PAIRING_ALPHABET = "ABCDEFGHJKLMNPQRSTVWXYZ23456789"
#: Event-loop turns `VirtualClock` lets pass after each timer, enough for a
#: woken task, the tasks it wakes and the event consumer to run to their next wait.
_SETTLE_ROUNDS = 50


class Clock(Protocol):
    """Time as the local engine sees it: injectable so tests control it."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def now(self) -> datetime:
        """Wall-clock time (aware, UTC), stamped on events."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` on this clock."""
        ...


class SystemClock:
    """Real time: `time.monotonic`, `datetime.now(UTC)`, `asyncio.sleep`."""

    def monotonic(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()

    def now(self) -> datetime:
        """`datetime.now(UTC)`."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep(seconds)`."""
        await asyncio.sleep(seconds)


class VirtualClock:
    """Time that moves only when told: `await advance(seconds)`.

    Sleepers wake in deadline order (ties in the order they slept); after each
    wake-up the event loop gets enough turns for the woken task and everything
    it triggers to settle, so when `advance` returns the engine has done all it
    would have done by then. Single event loop only.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._epoch = start or datetime(2024, 1, 1, tzinfo=UTC)
        self._t = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        """Seconds advanced since the clock was made."""
        return self._t

    def now(self) -> datetime:
        """The start datetime plus the seconds advanced."""
        return self._epoch + timedelta(seconds=self._t)

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has been advanced by `seconds` (0 just yields)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self._t + seconds, next(self._seq), future))
        await future

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting (cancelled ones excluded)."""
        return sum(1 for _, _, future in self._timers if not future.done())

    async def settle(self) -> None:
        """Let ready tasks run without moving time."""
        for _ in range(_SETTLE_ROUNDS):
            await asyncio.sleep(0)

    async def advance(self, seconds: float = 0.0) -> None:
        """Move time forward by `seconds`, waking every sleeper due on the way."""
        if seconds < 0:
            raise ValueError("time does not go back")
        target = self._t + seconds
        await self.settle()
        while self._timers and self._timers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._timers)
            if future.done():
                continue
            self._t = max(self._t, deadline)
            future.set_result(None)
            await self.settle()
        self._t = target
        await self.settle()


class LocalEngineOptions(BaseModel):
    """How the simulated peer behaves. Every delay is in seconds on the engine's clock."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    phone_number: str = Field(
        default="+15550100000", description="The account; LoggedIn carries its JID."
    )
    identity: str = Field(
        default="local", description="Who runs this engine (the pod name), in activity lines."
    )
    qr_rotate_s: float = Field(default=20.0, gt=0, description="Lifetime of each QR payload.")
    auto_login_after_s: float | None = Field(
        default=None,
        ge=0,
        description="Log in by itself this long after the QR appears; None waits for "
        "approve_login(); 0 logs in at once, without a QR.",
    )
    connect_delay_s: float = Field(default=0.0, ge=0, description="Login/restore to Connected.")
    send_latency_s: float = Field(
        default=0.0, ge=0, description="How long a send is in flight before it returns its id."
    )
    ack_sent_s: float = Field(default=0.5, ge=0, description="Send to the `sent` (or failed) ack.")
    ack_delivered_s: float | None = Field(
        default=1.0, ge=0, description="`sent` to `delivered`; None: the recipient never gets it."
    )
    ack_read_s: float | None = Field(
        default=3.0, ge=0, description="`delivered` to `read` (and read to played for audio)."
    )
    failure_rate: float = Field(default=0.0, ge=0, le=1, description="Share of sends that fail.")
    failure_error_code: int | None = Field(default=None, description="error_code of failed acks.")
    quota_after_n: int | None = Field(
        default=None, ge=0, description="After this many sends: QuotaSignal 475, sends rejected."
    )
    activity_log: Path | None = Field(
        default=None, description="Append active/inactive JSON lines here (fsynced)."
    )

    @field_validator("phone_number")
    @classmethod
    def _is_a_number(cls, value: str) -> str:
        """Fail at configuration time, not at login."""
        normalize_jid(value)
        return value


class _Phase(StrEnum):
    NEW = "new"
    AWAITING_LOGIN = "awaiting_login"
    LOGGING_IN = "logging_in"
    LOGGED_IN = "logged_in"
    CONFLICTED = "conflicted"
    STOPPING = "stopping"
    STOPPED = "stopped"
    KILLED = "killed"


_FINISHED = (_Phase.STOPPED, _Phase.KILLED)


class LocalEngine(Engine):
    """The simulated engine; see the module docstring."""

    name: ClassVar[str] = "local"

    def __init__(
        self, options: LocalEngineOptions | None = None, *, clock: Clock | None = None
    ) -> None:
        self.options = options or LocalEngineOptions()
        self._clock: Clock = clock or SystemClock()
        seed = self.options.seed
        self._qr_rng = random.Random(f"{seed}:qr")
        self._id_rng = random.Random(f"{seed}:message-id")
        self._failure_rng = random.Random(f"{seed}:failure")
        self._inbound_rng = random.Random(f"{seed}:inbound")

        self._phase = _Phase.NEW
        self._connected = False
        self._connected_event = asyncio.Event()
        self._jid: str | None = None
        self._session_dir: Path | None = None

        self._stream = EventStream()

        self._tasks = BackgroundTasks("local engine", log)
        self._login_task: asyncio.Task[None] | None = None
        self._pending_sends: set[asyncio.Future[None]] = set()
        self._ids_by_key: dict[str, str] = {}
        self._sends = 0
        self._quota_signalled = False
        self._held_inbound: list[InboundMessage] = []
        self._files_lock = asyncio.Lock()
        self._active = False
        self._finished = asyncio.Event()

    # -- what the runner calls ------------------------------------------------

    @property
    def ready(self) -> bool:
        """Logged in and connected."""
        return self._phase is _Phase.LOGGED_IN and self._connected

    async def start(self, session_dir: Path) -> None:
        """Restore the login from `session_dir` if it holds one, else start showing QR codes."""
        if self._phase is not _Phase.NEW:
            raise EngineError("a LocalEngine starts once; make a new one")
        self._session_dir = session_dir
        restored = await asyncio.to_thread(self._prepare_session_dir)
        if self._phase is not _Phase.NEW:  # stopped or killed while we read the dir
            raise EngineStopped(f"the engine was {self._phase} while starting")
        if restored is not None:
            self._phase = _Phase.LOGGING_IN
            self._tasks.spawn(self._resume(restored))
        else:
            self._phase = _Phase.AWAITING_LOGIN
            self._login_task = self._tasks.spawn(self._await_login())
        self._record_activity("active")

    async def stop(self) -> None:
        """Fail pending sends, emit `Disconnected("stopped")` if connected, end the stream."""
        if self._phase in _FINISHED:
            return
        if self._phase is _Phase.STOPPING:
            await self._finished.wait()
            return
        self._phase = _Phase.STOPPING
        was_connected = self._set_disconnected()
        self._fail_pending_sends("the engine was stopped")
        self._held_inbound.clear()
        await self._tasks.cancel_and_wait()
        if self._phase is _Phase.KILLED:  # killed while we waited: kill() did the rest
            return
        if was_connected:
            self._stream.emit(Disconnected(reason="stopped", at=self._clock.now()))
        self._record_activity("inactive")
        self._phase = _Phase.STOPPED
        self._stream.close(drop_pending=False)
        self._finished.set()

    def kill(self) -> None:
        """Cancel everything, fail pending sends, end the stream (dropping queued events)."""
        if self._phase in _FINISHED:
            return
        self._phase = _Phase.KILLED
        self._set_disconnected()
        self._tasks.cancel()
        self._fail_pending_sends("the engine was killed")
        self._held_inbound.clear()
        self._stream.close(drop_pending=True)
        self._record_activity("inactive")
        self._finished.set()

    def events(self) -> AsyncIterator[EngineEvent]:
        """The event stream; one consumer only (a second call raises)."""
        return self._stream.take()

    async def send_text(self, to: str, text: str, *, idempotency_key: str | None = None) -> str:
        """Send a text; acks follow per the options."""
        return await self._send(to, idempotency_key=idempotency_key, audio=False)

    async def send_media(
        self,
        to: str,
        media: MediaRef,
        caption: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> str:
        """Send media after checking the file is still the one described; audio also gets `played`."""
        try:
            size = media.path.stat().st_size
        except FileNotFoundError as missing:
            raise ValueError(f"media file {media.path} does not exist") from missing
        if size != media.size:
            raise ValueError(
                f"media file {media.path} is {size} bytes, its MediaRef says {media.size}"
            )
        return await self._send(
            to, idempotency_key=idempotency_key, audio=media.mime_type.startswith("audio/")
        )

    @contextlib.asynccontextmanager
    async def quiesce(self) -> AsyncIterator[None]:
        """Hold off session-file writes (login, logout) while a snapshot copies the dir."""
        async with self._files_lock:
            yield

    async def request_pairing_code(self, phone_number: str) -> str:
        """Switch from QR to a pairing code; `approve_login()` (or auto login) completes it."""
        if self._phase is not _Phase.AWAITING_LOGIN:
            raise EngineError(f"no login pending (engine is {self._phase})")
        jid = normalize_jid(phone_number)
        letters = "".join(self._qr_rng.choice(_PAIRING_ALPHABET) for _ in range(8))
        code = f"{letters[:4]}-{letters[4:]}"
        if self._login_task is not None:
            self._login_task.cancel()
        self._stream.emit(PairingCode(code=code, at=self._clock.now()))
        self._login_task = self._tasks.spawn(self._await_pairing(jid))
        return code

    # -- injection API (tests, demos) -----------------------------------------

    @property
    def phase(self) -> str:
        """Where the simulation is: new, awaiting_login, logging_in, logged_in, conflicted, …."""
        return self._phase.value

    @property
    def jid(self) -> str | None:
        """The logged-in JID, if any."""
        return self._jid

    @property
    def session_file(self) -> Path | None:
        """`local-session.json` in the session dir (once started)."""
        return None if self._session_dir is None else self._session_dir / SESSION_FILE

    @property
    def sent_count(self) -> int:
        """Sends accepted so far (what the quota counts)."""
        return self._sends

    def approve_login(self) -> None:
        """The user scanned the QR (or typed the pairing code): log in."""
        if self._phase is not _Phase.AWAITING_LOGIN:
            raise EngineError(f"no login pending (engine is {self._phase})")
        self._phase = _Phase.LOGGING_IN
        if self._login_task is not None:
            self._login_task.cancel()
        self._login_task = self._tasks.spawn(self._login(self._account_jid()))

    def inject_inbound(
        self,
        from_jid: str,
        text: str | None = None,
        *,
        media: MediaInfo | None = None,
        chat_jid: str | None = None,
    ) -> str:
        """Someone sends this account a message; returns its id.

        While disconnected the message waits "on the server" and arrives after
        `inject_reconnect()`, as WhatsApp's offline queue does.
        """
        if self._phase is not _Phase.LOGGED_IN:
            raise NotReady(f"no logged-in session to receive messages (engine is {self._phase})")
        if text is None and media is None:
            raise ValueError("an inbound message needs text or media")
        sender = normalize_jid(from_jid)
        now = self._clock.now()
        message = InboundMessage(
            message_id=f"3A{self._inbound_rng.getrandbits(72):018X}",
            chat_jid=normalize_jid(chat_jid) if chat_jid is not None else sender,
            sender_jid=sender,
            text=text,
            media=media,
            timestamp=now,
            at=now,
        )
        if self._connected:
            self._stream.emit(message)
        else:
            self._held_inbound.append(message)
        return message.message_id

    def inject_conflict(
        self, detail: str = "stream replaced: another client opened this session"
    ) -> None:
        """Another client takes the session: Conflict, Disconnected, never ready again."""
        if self._phase not in (_Phase.LOGGING_IN, _Phase.LOGGED_IN):
            raise EngineError(f"no session to take over (engine is {self._phase})")
        self._phase = _Phase.CONFLICTED
        was_connected = self._set_disconnected()
        self._cancel_tasks()
        self._fail_pending_sends("the session was taken by another client")
        self._held_inbound.clear()
        now = self._clock.now()
        self._stream.emit(Conflict(detail=detail, at=now))
        if was_connected:
            self._stream.emit(Disconnected(reason="conflict", at=now))
        self._record_activity("inactive")

    def inject_logout(self, reason: str = "device unlinked from the phone") -> None:
        """The phone unlinks this device: LoggedOut, session file deleted, back to QR login."""
        if self._phase is not _Phase.LOGGED_IN:
            raise EngineError(f"not logged in (engine is {self._phase})")
        was_connected = self._set_disconnected()
        self._cancel_tasks()
        self._fail_pending_sends("the session was logged out")
        self._held_inbound.clear()
        self._jid = None
        self._phase = _Phase.AWAITING_LOGIN
        now = self._clock.now()
        self._stream.emit(LoggedOut(reason=reason, at=now))
        if was_connected:
            self._stream.emit(Disconnected(reason="logged out", at=now))
        self._login_task = self._tasks.spawn(self._forget_and_await_login())

    def inject_disconnect(self, reason: str = "connection lost") -> None:
        """The connection drops (the session stays logged in)."""
        if self._phase is not _Phase.LOGGED_IN or not self._connected:
            raise EngineError(f"not connected (engine is {self._phase})")
        self._set_disconnected()
        self._stream.emit(Disconnected(reason=reason, at=self._clock.now()))

    def inject_reconnect(self) -> None:
        """The connection comes back; messages held meanwhile arrive. Refused after a conflict."""
        if self._phase is _Phase.CONFLICTED:
            raise EngineError("the session was replaced by another client: no reconnect")
        if self._phase is not _Phase.LOGGED_IN or self._connected:
            raise EngineError(f"nothing to reconnect (engine is {self._phase})")
        self._set_connected()

    # -- lifecycle tasks --------------------------------------------------------

    async def _resume(self, jid: str) -> None:
        """A restored session: connect, then WhatsApp accepts the stored credentials."""
        await self._clock.sleep(self.options.connect_delay_s)
        self._jid = jid
        self._phase = _Phase.LOGGED_IN
        self._set_connected()
        self._stream.emit(LoggedIn(jid=jid, at=self._clock.now()))

    async def _await_login(self) -> None:
        """Show rotating QR codes until approved (or auto login is due)."""
        auto = self.options.auto_login_after_s
        rotate = self.options.qr_rotate_s
        if auto == 0:
            await self._login(self._account_jid())
            return
        waited = 0.0
        while True:
            self._stream.emit(
                QrCode(payload=self._qr_payload(), expires_in_s=rotate, at=self._clock.now())
            )
            step = rotate if auto is None else min(rotate, auto - waited)
            await self._clock.sleep(step)
            waited += step
            if auto is not None and waited >= auto:
                await self._login(self._account_jid())
                return

    async def _await_pairing(self, jid: str) -> None:
        """Pairing-code login: wait for approve_login(), or auto login."""
        auto = self.options.auto_login_after_s
        if auto is None:
            return
        await self._clock.sleep(auto)
        await self._login(jid)

    async def _login(self, jid: str) -> None:
        """Login accepted: persist it (what a snapshot backs up), LoggedIn, Connected."""
        self._phase = _Phase.LOGGING_IN
        await self._clock.sleep(self.options.connect_delay_s)
        async with self._files_lock:
            self._write_session(jid)
        self._jid = jid
        self._phase = _Phase.LOGGED_IN
        self._stream.emit(LoggedIn(jid=jid, at=self._clock.now()))
        self._set_connected()

    async def _forget_and_await_login(self) -> None:
        """After a logout: delete the stored login, then offer a new one."""
        async with self._files_lock:
            if self._session_dir is not None:
                (self._session_dir / SESSION_FILE).unlink(missing_ok=True)
        await self._await_login()

    # -- sending ----------------------------------------------------------------

    async def _send(self, to: str, *, idempotency_key: str | None, audio: bool) -> str:
        self._check_can_send()
        jid = normalize_jid(to)
        if idempotency_key is not None and idempotency_key in self._ids_by_key:
            return self._ids_by_key[idempotency_key]
        quota = self.options.quota_after_n
        if quota is not None and self._sends >= quota:
            detail = "account restricted: too many messages"
            if not self._quota_signalled:
                self._quota_signalled = True
                self._stream.emit(QuotaSignal(code=475, detail=detail, at=self._clock.now()))
            raise SendRejected(475, retryable=False, detail=detail)
        self._sends += 1
        message_id = f"3EB0{self._id_rng.getrandbits(64):016X}"
        fails = self._failure_rng.random() < self.options.failure_rate
        if idempotency_key is not None:
            self._ids_by_key[idempotency_key] = message_id
        if self.options.send_latency_s > 0:
            try:
                await self._in_flight(self.options.send_latency_s)
            except BaseException:
                if idempotency_key is not None:
                    self._ids_by_key.pop(idempotency_key, None)
                raise
        log.debug("local engine sent %s to %s", message_id, jid)
        self._tasks.spawn(self._acknowledge(message_id, fails=fails, audio=audio))
        return message_id

    def _check_can_send(self) -> None:
        if self._phase in (_Phase.NEW, _Phase.STOPPING, *_FINISHED):
            raise EngineStopped(f"the engine is {self._phase}")
        if self._phase is _Phase.CONFLICTED:
            raise NotReady("the session was replaced by another client (conflict)")
        if not self.ready:
            raise NotReady(f"not logged in and connected (engine is {self._phase})")

    async def _in_flight(self, seconds: float) -> None:
        """Wait `seconds`, unless stop/kill/conflict/logout interrupts the send first."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending_sends.add(future)
        self._tasks.spawn(self._complete_after(future, seconds))
        try:
            await future
        finally:
            self._pending_sends.discard(future)

    async def _complete_after(self, future: asyncio.Future[None], seconds: float) -> None:
        await self._clock.sleep(seconds)
        if not future.done():
            future.set_result(None)

    def _fail_pending_sends(self, why: str) -> None:
        for future in list(self._pending_sends):
            if not future.done():
                future.set_exception(SendInterrupted(why))
        self._pending_sends.clear()

    async def _acknowledge(self, message_id: str, *, fails: bool, audio: bool) -> None:
        """sent → delivered → read (→ played), or failed; held back while disconnected."""
        opts = self.options
        await self._clock.sleep(opts.ack_sent_s)
        await self._connected_event.wait()
        if fails:
            self._emit_ack(message_id, AckStatus.FAILED, opts.failure_error_code)
            return
        self._emit_ack(message_id, AckStatus.SENT)
        steps: list[tuple[AckStatus, float | None]] = [
            (AckStatus.DELIVERED, opts.ack_delivered_s),
            (AckStatus.READ, opts.ack_read_s),
        ]
        if audio:
            steps.append((AckStatus.PLAYED, opts.ack_read_s))
        for status, delay in steps:
            if delay is None:
                return
            await self._clock.sleep(delay)
            await self._connected_event.wait()
            self._emit_ack(message_id, status)

    def _emit_ack(self, message_id: str, status: AckStatus, error_code: int | None = None) -> None:
        self._stream.emit(
            MessageAck(
                message_id=message_id, status=status, error_code=error_code, at=self._clock.now()
            )
        )

    # -- plumbing ---------------------------------------------------------------

    def _account_jid(self) -> str:
        return normalize_jid(self.options.phone_number)

    def _qr_payload(self) -> str:
        """Shaped like WhatsApp's: `2@ref,noise key,identity key,adv secret`."""

        def b64(n: int) -> str:
            return base64.b64encode(self._qr_rng.randbytes(n)).decode()

        return f"2@{b64(36)},{b64(32)},{b64(32)},{b64(32)}"

    def _set_connected(self) -> None:
        self._connected = True
        self._connected_event.set()
        self._stream.emit(Connected(at=self._clock.now()))
        held, self._held_inbound = self._held_inbound, []
        for message in held:
            self._stream.emit(message.model_copy(update={"at": self._clock.now()}))

    def _set_disconnected(self) -> bool:
        """Mark the connection down; return whether it was up."""
        was_connected = self._connected
        self._connected = False
        self._connected_event.clear()
        return was_connected

    def _cancel_tasks(self) -> None:
        self._tasks.cancel()
        self._login_task = None

    def _prepare_session_dir(self) -> str | None:
        """Create the session dir if needed; the JID a previous login stored, or None.

        A missing or unreadable session file means "log in again", as a real
        engine falls back to a QR when its restored credentials are rejected.
        """
        assert self._session_dir is not None
        self._session_dir.mkdir(parents=True, exist_ok=True)
        path = self._session_dir / SESSION_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("ignoring unreadable %s: %s", path, error)
            return None
        jid = data.get("jid") if isinstance(data, dict) else None
        if not isinstance(jid, str) or not jid:
            log.warning("ignoring %s without a jid", path)
            return None
        return jid

    def _write_session(self, jid: str) -> None:
        """Write atomically (temp file, fsync, rename): a snapshot never sees half a file."""
        assert self._session_dir is not None
        path = self._session_dir / SESSION_FILE
        temporary = path.with_name(f".{SESSION_FILE}.tmp")
        body = json.dumps(
            {
                "engine": "local",
                "version": 1,
                "jid": jid,
                "logged_in_at": self._clock.now().isoformat(),
            }
        )
        with temporary.open("w") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def _record_activity(self, event: Literal["active", "inactive"]) -> None:
        """Append one fsynced JSON line, at most once per transition."""
        if (event == "active") == self._active:
            return
        self._active = event == "active"
        path = self.options.activity_log
        if path is None:
            return
        line = json.dumps(
            {
                "event": event,
                "pid": os.getpid(),
                "identity": self.options.identity,
                "t": time.monotonic(),
            }
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, (line + "\n").encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
