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
pass a `VirtualClock` (tests/unit/engines/clock.py) and move time with
`await clock.advance(seconds)`: no real sleeps, no timed assertions.

Activity log: with `activity_log` set, the engine appends one JSON line when
it becomes active (start succeeded) and when it becomes inactive (stop, kill,
conflict), fsynced before the call returns, so a SIGKILL right after still
leaves the line. `t` is `time.monotonic()`: CLOCK_MONOTONIC is system-wide on
Linux, so lines from several runner processes order on one clock, which is
what the lease fault harness needs to prove two engines were never active at
once. `sent_log` likewise gets one line per message handed to the peer (with
its idempotency key): what the recipient would receive, counted by tests that
prove a message never went out twice. These writes (and the tiny session file) are synchronous on purpose:
`kill()` must record before it returns, without awaiting.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from session_runner.session.engines.base import (
    Engine,
    EngineError,
    NotReady,
    SendRejected,
    normalize_jid,
)
from session_runner.session.engines.core import EngineCore, Phase
from session_runner.session.engines.events import (
    AckStatus,
    Disconnected,
    EngineEvent,
    InboundMessage,
    LoggedOut,
    MediaInfo,
    MediaRef,
    PairingCode,
    QrCode,
    QuotaSignal,
)
from session_runner.session.engines.media import (
    DEFAULT_FAMILIES,
    DEFAULT_MAX_BYTES,
    check_declared,
    check_media,
)

log = logging.getLogger(__name__)

#: The file a login leaves in the session dir; its presence means "logged in before".
SESSION_FILE = "local-session.json"

_PAIRING_ALPHABET = "ABCDEFGHJKLMNPQRSTVWXYZ23456789"


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
    sent_log: Path | None = Field(
        default=None,
        description="Append one JSON line per message handed to the peer (fsynced): what a "
        "recipient would get, so tests and the demo count deliveries by idempotency key.",
    )

    @field_validator("phone_number")
    @classmethod
    def _is_a_number(cls, value: str) -> str:
        """Fail at configuration time, not at login."""
        normalize_jid(value)
        return value


class _Login(StrEnum):
    """Where the simulated login is while the engine runs (the core says whether it runs)."""

    AWAITING_LOGIN = "awaiting_login"
    LOGGING_IN = "logging_in"
    LOGGED_IN = "logged_in"


class LocalEngine(Engine):
    """The simulated engine; see the module docstring."""

    name: ClassVar[str] = "local"

    def __init__(
        self, options: LocalEngineOptions | None = None, *, clock: Clock | None = None
    ) -> None:
        self.options = options or LocalEngineOptions()
        self._clock: Clock = clock or SystemClock()
        self._core = EngineCore("local engine", log, now=self._clock.now)
        seed = self.options.seed
        self._qr_rng = random.Random(f"{seed}:qr")
        self._id_rng = random.Random(f"{seed}:message-id")
        self._failure_rng = random.Random(f"{seed}:failure")
        self._inbound_rng = random.Random(f"{seed}:inbound")

        self._login = _Login.AWAITING_LOGIN
        self._connected_event = asyncio.Event()
        self._session_dir: Path | None = None
        self._login_task: asyncio.Task[None] | None = None
        self._sends = 0
        self._quota_signalled = False
        self._held_inbound: list[InboundMessage] = []
        self._files_lock = asyncio.Lock()
        self._active = False

    # -- what the runner calls ------------------------------------------------

    def sent_under(self, idempotency_key: str) -> str | None:
        return self._core.sent_under(idempotency_key)

    @property
    def ready(self) -> bool:
        """Logged in and connected."""
        return self._core.ready

    async def start(self, session_dir: Path) -> None:
        """Restore the login from `session_dir` if it holds one, else start showing QR codes."""
        self._core.begin()
        self._session_dir = session_dir
        restored = await asyncio.to_thread(self._prepare_session_dir)
        self._core.check_started()  # stopped or killed while we read the dir
        if restored is not None:
            self._login = _Login.LOGGING_IN
            self._core.tasks.spawn(self._resume(restored))
        else:
            self._login = _Login.AWAITING_LOGIN
            self._login_task = self._core.tasks.spawn(self._await_login())
        self._record_activity("active")

    async def stop(self) -> None:
        """Fail pending sends, emit `Disconnected("stopped")` if connected, end the stream."""

        async def teardown() -> None:
            self._record_activity("inactive")

        self._connected_event.clear()
        self._held_inbound.clear()
        await self._core.stop(teardown)

    def kill(self) -> None:
        """Cancel everything, fail pending sends, end the stream (dropping queued events)."""

        def teardown() -> None:
            self._connected_event.clear()
            self._held_inbound.clear()
            self._record_activity("inactive")

        self._core.kill(teardown)

    def events(self) -> AsyncIterator[EngineEvent]:
        """The event stream; one consumer only (a second call raises)."""
        return self._core.stream.take()

    async def send_text(self, to: str, text: str, *, idempotency_key: str | None = None) -> str:
        """Send a text; acks follow per the options."""
        return await self._send(to, idempotency_key=idempotency_key, media=None)

    async def send_media(
        self,
        to: str,
        media: MediaRef,
        caption: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> str:
        """Send media after the shared media check (`media.check_media`); audio also gets `played`."""
        return await self._send(to, idempotency_key=idempotency_key, media=media)

    @contextlib.asynccontextmanager
    async def quiesce(self) -> AsyncIterator[None]:
        """Hold off session-file writes (login, logout) while a snapshot copies the dir."""
        async with self._files_lock:
            yield

    async def request_pairing_code(self, phone_number: str) -> str:
        """Switch from QR to a pairing code; `approve_login()` (or auto login) completes it."""
        self._expect_login(_Login.AWAITING_LOGIN, "no login pending")
        jid = normalize_jid(phone_number)
        letters = "".join(self._qr_rng.choice(_PAIRING_ALPHABET) for _ in range(8))
        code = f"{letters[:4]}-{letters[4:]}"
        if self._login_task is not None:
            self._login_task.cancel()
        self._core.emit(PairingCode(code=code, at=self._clock.now()))
        self._login_task = self._core.tasks.spawn(self._await_pairing(jid))
        return code

    # -- injection API (tests, demos) -----------------------------------------

    @property
    def phase(self) -> str:
        """Where the simulation is: new, awaiting_login, logging_in, logged_in, conflicted, …."""
        return self._login.value if self._core.running else self._core.phase.value

    @property
    def jid(self) -> str | None:
        """The logged-in JID, if any."""
        return self._core.jid

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
        self._expect_login(_Login.AWAITING_LOGIN, "no login pending")
        self._login = _Login.LOGGING_IN
        if self._login_task is not None:
            self._login_task.cancel()
        self._login_task = self._core.tasks.spawn(self._log_in(self._account_jid()))

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
        if not self._logged_in:
            raise NotReady(f"no logged-in session to receive messages (engine is {self.phase})")
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
        if self._core.connected:
            self._core.emit(message)
        else:
            self._held_inbound.append(message)
        return message.message_id

    def inject_conflict(
        self, detail: str = "stream replaced: another client opened this session"
    ) -> None:
        """Another client takes the session: Conflict, Disconnected, never ready again."""
        if not self._core.running or self._login is _Login.AWAITING_LOGIN:
            raise EngineError(f"no session to take over (engine is {self.phase})")
        self._connected_event.clear()
        self._cancel_tasks()
        self._held_inbound.clear()
        self._core.conflict(detail)
        self._record_activity("inactive")

    def inject_logout(self, reason: str = "device unlinked from the phone") -> None:
        """The phone unlinks this device: LoggedOut, session file deleted, back to QR login."""
        self._expect_login(_Login.LOGGED_IN, "not logged in")
        was_connected = self._set_disconnected()
        self._cancel_tasks()
        self._core.in_flight.interrupt("the session was logged out")
        self._held_inbound.clear()
        self._core.logged_in = False
        self._core.jid = None
        self._login = _Login.AWAITING_LOGIN
        now = self._clock.now()
        self._core.emit(LoggedOut(reason=reason, at=now))
        if was_connected:
            self._core.emit(Disconnected(reason="logged out", at=now))
        self._login_task = self._core.tasks.spawn(self._forget_and_await_login())

    def inject_disconnect(self, reason: str = "connection lost") -> None:
        """The connection drops (the session stays logged in)."""
        if not self._logged_in or not self._core.connected:
            raise EngineError(f"not connected (engine is {self.phase})")
        self._set_disconnected()
        self._core.emit(Disconnected(reason=reason, at=self._clock.now()))

    def inject_reconnect(self) -> None:
        """The connection comes back; messages held meanwhile arrive. Refused after a conflict."""
        if self._core.phase is Phase.CONFLICTED:
            raise EngineError("the session was replaced by another client: no reconnect")
        if not self._logged_in or self._core.connected:
            raise EngineError(f"nothing to reconnect (engine is {self.phase})")
        self._set_connected()

    # -- lifecycle tasks --------------------------------------------------------

    async def _resume(self, jid: str) -> None:
        """A restored session: connect, then WhatsApp accepts the stored credentials."""
        await self._clock.sleep(self.options.connect_delay_s)
        self._login = _Login.LOGGED_IN
        self._core.jid = jid
        self._set_connected()
        self._core.login(jid)

    async def _await_login(self) -> None:
        """Show rotating QR codes until approved (or auto login is due)."""
        auto = self.options.auto_login_after_s
        rotate = self.options.qr_rotate_s
        if auto == 0:
            await self._log_in(self._account_jid())
            return
        waited = 0.0
        while True:
            self._core.emit(
                QrCode(payload=self._qr_payload(), expires_in_s=rotate, at=self._clock.now())
            )
            step = rotate if auto is None else min(rotate, auto - waited)
            await self._clock.sleep(step)
            waited += step
            if auto is not None and waited >= auto:
                await self._log_in(self._account_jid())
                return

    async def _await_pairing(self, jid: str) -> None:
        """Pairing-code login: wait for approve_login(), or auto login."""
        auto = self.options.auto_login_after_s
        if auto is None:
            return
        await self._clock.sleep(auto)
        await self._log_in(jid)

    async def _log_in(self, jid: str) -> None:
        """Login accepted: persist it (what a snapshot backs up), LoggedIn, Connected."""
        self._login = _Login.LOGGING_IN
        await self._clock.sleep(self.options.connect_delay_s)
        async with self._files_lock:
            self._write_session(jid)
        self._login = _Login.LOGGED_IN
        self._core.login(jid)
        self._set_connected()

    async def _forget_and_await_login(self) -> None:
        """After a logout: delete the stored login, then offer a new one."""
        async with self._files_lock:
            if self._session_dir is not None:
                (self._session_dir / SESSION_FILE).unlink(missing_ok=True)
        await self._await_login()

    # -- sending ----------------------------------------------------------------

    async def _send(self, to: str, *, idempotency_key: str | None, media: MediaRef | None) -> str:
        jid = normalize_jid(to)
        audio = media is not None and media.mime_type.startswith("audio/")

        async def send() -> str:
            self._check_can_send()
            if media is not None:
                check_declared(media, max_bytes=DEFAULT_MAX_BYTES, families=DEFAULT_FAMILIES)
                await asyncio.to_thread(check_media, media)
                self._check_can_send()
            quota = self.options.quota_after_n
            if quota is not None and self._sends >= quota:
                detail = "account restricted: too many messages"
                if not self._quota_signalled:
                    self._quota_signalled = True
                    self._core.emit(QuotaSignal(code=475, detail=detail, at=self._clock.now()))
                raise SendRejected(475, retryable=False, detail=detail)
            self._sends += 1
            message_id = f"3EB0{self._id_rng.getrandbits(64):016X}"
            fails = self._failure_rng.random() < self.options.failure_rate
            if self.options.send_latency_s > 0:
                latency = self._core.tasks.spawn(self._clock.sleep(self.options.send_latency_s))
                await self._core.in_flight.wait(latency, answer_within_s=None, no_answer="")
            log.debug("local engine sent %s to %s", message_id, jid)
            self._record_sent(idempotency_key, message_id, jid)
            self._core.tasks.spawn(self._acknowledge(message_id, fails=fails, audio=audio))
            return message_id

        return await self._core.send_once(idempotency_key, send)

    def _check_can_send(self) -> None:
        self._core.check_sendable(f"not logged in and connected (engine is {self.phase})")

    async def _acknowledge(self, message_id: str, *, fails: bool, audio: bool) -> None:
        """sent → delivered → read (→ played), or failed; held back while disconnected."""
        opts = self.options
        await self._clock.sleep(opts.ack_sent_s)
        await self._connected_event.wait()
        if fails:
            self._core.ack(message_id, AckStatus.FAILED, opts.failure_error_code)
            return
        self._core.ack(message_id, AckStatus.SENT)
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
            self._core.ack(message_id, status)

    # -- plumbing ---------------------------------------------------------------

    @property
    def _logged_in(self) -> bool:
        return self._core.running and self._login is _Login.LOGGED_IN

    def _expect_login(self, state: _Login, refusal: str) -> None:
        if not self._core.running or self._login is not state:
            raise EngineError(f"{refusal} (engine is {self.phase})")

    def _account_jid(self) -> str:
        return normalize_jid(self.options.phone_number)

    def _qr_payload(self) -> str:
        """Shaped like WhatsApp's: `2@ref,noise key,identity key,adv secret`."""

        def b64(n: int) -> str:
            return base64.b64encode(self._qr_rng.randbytes(n)).decode()

        return f"2@{b64(36)},{b64(32)},{b64(32)},{b64(32)}"

    def _set_connected(self) -> None:
        self._core.connect()
        self._connected_event.set()
        held, self._held_inbound = self._held_inbound, []
        for message in held:
            self._core.emit(message.model_copy(update={"at": self._clock.now()}))

    def _set_disconnected(self) -> bool:
        """Mark the connection down (still logged in); return whether it was up."""
        self._connected_event.clear()
        return self._core.go_down(keep_login=True)

    def _cancel_tasks(self) -> None:
        self._core.tasks.cancel()
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
        _append_line(
            path,
            {
                "event": event,
                "pid": os.getpid(),
                "identity": self.options.identity,
                "t": time.monotonic(),
            },
        )

    def _record_sent(self, key: str | None, message_id: str, jid: str) -> None:
        """One fsynced line per message handed over (written before the send returns)."""
        path = self.options.sent_log
        if path is None:
            return
        line = {"key": key, "id": message_id, "to": jid, "identity": self.options.identity}
        _append_line(path, {**line, "t": time.monotonic()})


def _append_line(path: Path, record: dict[str, object]) -> None:
    """Append one JSON line and fsync it: a SIGKILL right after still leaves the line."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, (json.dumps(record) + "\n").encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
