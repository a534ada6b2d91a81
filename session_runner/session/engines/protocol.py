"""ProtocolEngine: WhatsApp's multi-device protocol through neonize (whatsmeow in Go).

Why: no browser at all. whatsmeow speaks the protocol a linked device speaks,
so one account costs a Go client and a SQLite store (~69 MB PSS for an idle
runner-like process, measured by bench/bench_engines.py) instead of a
Chromium (~400 MB).

How it runs:

- Store: `session_dir / "whatsmeow.sqlite3"`, passed as neonize's client name
  (a path selects SQLite). whatsmeow creates its 17 `whatsmeow_*` tables on
  the first `connect()`, before dialling, so even an engine that never reached
  WhatsApp leaves a valid store; a restored store logs in without a QR.
- One neonize thread per process: neonize dispatches Go callbacks to ONE
  process-global event loop (`neonize.aioze.events.event_global_loop`, set
  once) and runs every Go call through `asyncio.to_thread`; `connect()` parks a
  thread in the Go call `Neonize()` for the connection's whole life. So all
  neonize work runs on a private event loop in a daemon thread
  (`_NeonizeLoop`) whose executor starts a daemon thread per Go call. The
  runner's loop only awaits futures: a slow or parked Go call never blocks it,
  never takes a thread of the runner's default executor, and never keeps the
  interpreter from exiting. Events hop back with `call_soon_threadsafe`.
- Events: neonize's protobuf events go through the pure `map_neonize_event`
  (see `protocol_events.py` for the table); the engine adds readiness, ack
  monotonicity, and the conflict fence (`StreamReplacedEv` → Conflict +
  Disconnected, the Go client is stopped, never reconnected).
- Connecting: `connect()` is retried with exponential backoff
  (`reconnect_backoff_s` … `reconnect_backoff_max_s`) while the engine runs;
  each failed attempt emits `Disconnected(reason="connect failed: <error>")`.
  Without network that is at once ("failed to dial …"): start() never hangs.
  Once connected, whatsmeow reconnects by itself (DisconnectedEv →
  ConnectedEv) while `Neonize()` keeps running.
- Sends: `send_message(build_jid(user), Message(conversation=text))`, the
  `SendResponse.ID` is the message id, followed by `MessageAck(sent)`. Media:
  the file is read and checked (`media.read_media`: size, sha256, MIME family,
  magic bytes, no executables: the one check of all engines) in a worker thread,
  handed to Go's `Upload` as raw bytes (Go encrypts, hashes and uploads it, in
  a neonize thread), and an image/video/audio/document `Message` is built
  from the `UploadResponse`. Nothing base64-encodes a file, nothing touches it
  on the event loop. (neonize's own `build_*_message` helpers are not used:
  they sniff MIME types with libmagic and call ffmpeg on the loop thread.)
- Pairing code: `PairPhone(phone, show_push_notification=True)` on a
  connected, not-yet-logged-in client; emitted as `PairingCode` too.
- quiesce(): nothing to do, no downtime: the snapshot layer copies the store
  with SQLite's online backup API, which is consistent while whatsmeow writes.

What kill() can and cannot do: whatsmeow runs in-process (goroutines in the
Go runtime inside this process), so there is no process to SIGKILL, and Go
offers no way to stop goroutines synchronously from Python. kill() therefore,
synchronously and without awaiting: marks the engine killed (no send is
accepted any more, pending sends fail with `SendInterrupted`), bumps the
generation so every callback still in flight from Go is dropped, closes the
event stream dropping what was queued, and fires neonize's `Stop(uuid)` in a
fresh daemon thread (cancels the client's context: the websocket closes and
`Neonize()` returns). Until that Go call lands (milliseconds) whatsmeow may
still finish a frame already in flight, answer a keepalive, or write its store;
nothing of ours leaves the engine after kill() returns. The runner's fencing
token keeps such late store writes out of any durable snapshot.

Settings beyond `RunnerSettings` come from `ProtocolEngineSettings`,
environment prefix `WAFLEET_PROTOCOL_`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from session_runner.session.engines.base import (
    Engine,
    EngineError,
    EngineStopped,
    NotReady,
    SendInterrupted,
    SendRejected,
    normalize_jid,
)
from session_runner.session.engines.core import Backoff, EngineCore
from session_runner.session.engines.errors import quota_code, whatsmeow_error_code
from session_runner.session.engines.events import (
    AckStatus,
    Conflict,
    Connected,
    Disconnected,
    EngineEvent,
    MediaRef,
    PairingCode,
    QuotaSignal,
)
from session_runner.session.engines.media import check_declared, read_media
from session_runner.session.engines.protocol_events import map_neonize_event, map_qr

__all__ = [
    "PROTOCOL_ENV_PREFIX",
    "STORE_FILE",
    "ProtocolEngine",
    "ProtocolEngineSettings",
    "neonize_loop",
    "read_media",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Environment prefix of `ProtocolEngineSettings`.
PROTOCOL_ENV_PREFIX = "WAFLEET_PROTOCOL_"
#: whatsmeow's SQLite store inside the session dir (what snapshots back up).
STORE_FILE = "whatsmeow.sqlite3"


class ProtocolEngineSettings(BaseSettings):
    """Protocol-engine knobs not in the operator↔runner contract (`WAFLEET_PROTOCOL_*`)."""

    model_config = SettingsConfigDict(env_prefix=PROTOCOL_ENV_PREFIX, extra="ignore", frozen=True)

    reconnect_backoff_s: float = Field(default=1.0, gt=0)
    reconnect_backoff_max_s: float = Field(default=60.0, gt=0)
    qr_lifetime_s: float = Field(
        default=20.0, ge=0, description="What QrCode.expires_in_s says (whatsmeow rotates ~20 s)."
    )
    send_timeout_s: float = Field(default=120.0, gt=0)
    stop_timeout_s: float = Field(
        default=5.0, gt=0, description="How long stop() waits for Go's connect call to return."
    )
    media_max_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    media_mime_families: tuple[str, ...] = ("image", "video", "audio", "application", "text")
    pairing_push_notification: bool = Field(
        default=True, description="PairPhone's show_push_notification."
    )


# -- the neonize thread ------------------------------------------------------------


class _DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """One daemon thread per call: a Go call parked for hours never holds interpreter exit.

    `ThreadPoolExecutor` workers are joined at exit; `Neonize()` (connect) only
    returns when the client stops, so a pool worker would hang the exit of a
    process that forgot to stop its engine. Calls are few (connect, send,
    upload), so a thread each costs nothing that matters.
    """

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:  # handed to the awaiting side
                future.set_exception(error)
            else:
                future.set_result(result)

        threading.Thread(target=run, name="neonize-call", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing pooled to shut down."""


class _NeonizeLoop:
    """The private event loop every neonize client of this process lives on."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(_DaemonExecutor())
        ready = threading.Event()

        def run() -> None:
            # Importing neonize loads its 19 MB Go library (~0.3 s): here, not on
            # the runner's loop. neonize keeps the loop it dispatches Go callbacks
            # to in a module global that it sets only once: make it this one, for
            # the life of the process.
            from neonize.aioze import events as neonize_events

            neonize_events.event_global_loop = self.loop
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(ready.set)
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="neonize-loop", daemon=True)
        self.thread.start()
        ready.wait()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Schedule `coroutine` on the neonize loop; await the result from any loop."""
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))


_LOOP_LOCK = threading.Lock()
_NEONIZE_LOOP: _NeonizeLoop | None = None


def neonize_loop() -> _NeonizeLoop:
    """The process's neonize thread, started on first use."""
    global _NEONIZE_LOOP
    with _LOOP_LOCK:
        if _NEONIZE_LOOP is None:
            _NEONIZE_LOOP = _NeonizeLoop()
        return _NEONIZE_LOOP


# -- media ---------------------------------------------------------------------------


def _media_message(media: MediaRef, upload: Any, caption: str | None) -> Any:
    """A `waE2E.Message` for an uploaded file: image, video, audio or (else) document."""
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
        AudioMessage,
        DocumentMessage,
        ImageMessage,
        Message,
        VideoMessage,
    )

    family = media.mime_type.split("/", 1)[0].lower()
    common: dict[str, Any] = {
        "URL": upload.url,
        "directPath": upload.DirectPath,
        "mediaKey": upload.MediaKey,
        "fileEncSHA256": upload.FileEncSHA256,
        "fileSHA256": upload.FileSHA256,
        "fileLength": upload.FileLength,
        "mimetype": media.mime_type,
    }
    if family == "image":
        return Message(imageMessage=ImageMessage(caption=caption, **common))
    if family == "video":
        return Message(videoMessage=VideoMessage(caption=caption, **common))
    if family == "audio":
        return Message(audioMessage=AudioMessage(**common))
    name = media.filename or media.path.name
    return Message(
        documentMessage=DocumentMessage(caption=caption, fileName=name, title=name, **common)
    )


def _media_type(media: MediaRef) -> Any:
    """neonize's `MediaType` for the upload (decides the media host's path and keys)."""
    from neonize.utils.enum import MediaType

    family = media.mime_type.split("/", 1)[0].lower()
    return {
        "image": MediaType.MediaImage,
        "video": MediaType.MediaVideo,
        "audio": MediaType.MediaAudio,
    }.get(family, MediaType.MediaDocument)


def _to_jid(jid: str) -> Any:
    """`user@server` (from `normalize_jid`) as neonize's `JID` protobuf."""
    from neonize.utils.jid import build_jid

    user, _, server = jid.partition("@")
    return build_jid(user, server)


# -- the engine ------------------------------------------------------------------------


class ProtocolEngine(Engine):
    """whatsmeow through neonize's async client; see the module docstring."""

    name: ClassVar[str] = "protocol"

    def __init__(
        self,
        *,
        phone_number: str | None = None,
        options: ProtocolEngineSettings | None = None,
    ) -> None:
        self.options = options or ProtocolEngineSettings()
        self._core = EngineCore(
            "protocol engine",
            log,
            fallback_jid=normalize_jid(phone_number) if phone_number else None,
        )
        self._store: Path | None = None
        self._client: Any = None
        self._uuid: bytes | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connect_attempts = 0
        self._last_error: str | None = None
        self._connecting: asyncio.Future[Any] | None = None
        self._first_attempt: asyncio.Future[None] | None = None

    # -- what the runner calls ------------------------------------------------

    def sent_under(self, idempotency_key: str) -> str | None:
        return self._core.sent_under(idempotency_key)

    @property
    def ready(self) -> bool:
        """Logged in and connected (ConnectedEv seen and no disconnect since)."""
        return self._core.ready

    async def start(self, session_dir: Path) -> None:
        """Create the client on `session_dir/whatsmeow.sqlite3` and start connecting; once only.

        Returns once the first connect attempt failed, or Go reported anything
        (a QR code, Connected), or after `stop_timeout_s` at most (a dial into
        a black hole): the runner's loop is never held longer. Without network
        the attempt fails at once, is reported as `Disconnected` and retried
        in the background.
        """
        self._core.begin()
        self._loop = asyncio.get_running_loop()
        self._store = (session_dir / STORE_FILE).resolve()
        try:
            await asyncio.to_thread(session_dir.mkdir, parents=True, exist_ok=True)
            neonize = await asyncio.to_thread(neonize_loop)  # first use: imports neonize
            self._client = await neonize.run(self._make_client(str(self._store)))
            self._uuid = self._client.uuid
        except BaseException:
            if self._core.running:
                await self.stop()
            raise
        self._core.check_started()
        first_attempt: asyncio.Future[None] = self._loop.create_future()
        self._first_attempt = first_attempt
        self._core.tasks.spawn(self._keep_connected(first_attempt))
        await asyncio.wait({first_attempt}, timeout=self.options.stop_timeout_s)

    async def stop(self) -> None:
        """Fail pending sends, stop the Go client (closing the store), end the stream."""
        await self._core.stop(self._stop_client)

    async def _stop_client(self) -> None:
        """Stop Go's client and wait (bounded) for its connect call to return."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    neonize_loop().run(self._client.stop()), self.options.stop_timeout_s
                )
                _no_second_stop_at_gc(self._client)
        if self._connecting is not None:
            with contextlib.suppress(Exception):  # its error was reported; a timeout is logged
                await asyncio.wait_for(
                    asyncio.shield(self._connecting), self.options.stop_timeout_s
                )
            if not self._connecting.done():
                log.warning("neonize's connect call did not return within the stop timeout")
        self._abandon_connect()

    def kill(self) -> None:
        """Refuse everything, drop events, fire Go's Stop in a daemon thread. Synchronous.

        See the module docstring for what Go may still finish after this returns.
        """
        self._core.kill(self._kill_client)

    def _kill_client(self) -> None:
        if self._uuid is not None:
            uuid = self._uuid
            threading.Thread(
                target=_stop_go_client, args=(uuid,), name="neonize-kill", daemon=True
            ).start()
        if self._client is not None:
            _no_second_stop_at_gc(self._client)
        self._abandon_connect()

    def _abandon_connect(self) -> None:
        """Stop caring about the connect call's outcome, so it is never left unretrieved.

        Its future lives on our loop, and the Go call may fail (say, a DNS error)
        after we stopped listening, or just before our loop closes with the
        callbacks that would read the error still queued. An unretrieved
        exception is logged with its traceback when the future is collected, at
        whatever allocation triggers the collector; on CPython 3.11 that
        traceback formatting calls `ast.parse`, and inside another `ast.parse`
        it corrupts the parser's shared depth counter ("SystemError: AST
        constructor recursion depth mismatch", python/cpython#106905): this
        made the engine tests fail about one run in five. Cancelling a pending
        future drops the late result (asyncio skips copying into a cancelled
        future); a settled one is marked read.
        """
        connecting = self._connecting
        if connecting is None:
            return
        if not connecting.done():
            connecting.cancel()
        elif not connecting.cancelled():
            connecting.exception()

    def events(self) -> AsyncIterator[EngineEvent]:
        """The event stream; one consumer only (a second call raises)."""
        return self._core.stream.take()

    async def send_text(self, to: str, text: str, *, idempotency_key: str | None = None) -> str:
        """`send_message(build_jid(user), Message(conversation=text))`; the response's ID."""
        jid = normalize_jid(to)

        async def send() -> str:
            client = self._sendable_client()
            from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message

            return self._sent(
                await self._in_flight(client.send_message(_to_jid(jid), Message(conversation=text)))
            )

        return await self._core.send_once(idempotency_key, send)

    async def send_media(
        self,
        to: str,
        media: MediaRef,
        caption: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> str:
        """Check and read the file in a thread, Go uploads it, then `send_message` the media message."""
        jid = normalize_jid(to)
        limits = {
            "max_bytes": self.options.media_max_bytes,
            "families": self.options.media_mime_families,
        }

        async def send() -> str:
            check_declared(media, **limits)  # type: ignore[arg-type]
            self._sendable_client()
            data = await asyncio.to_thread(read_media, media, **limits)  # type: ignore[arg-type]
            client = self._sendable_client()

            async def deliver() -> Any:
                upload = await client.upload(data, _media_type(media))
                message = _media_message(media, upload, caption)
                return await client.send_message(_to_jid(jid), message)

            return self._sent(await self._in_flight(deliver()))

        return await self._core.send_once(idempotency_key, send)

    @contextlib.asynccontextmanager
    async def quiesce(self) -> AsyncIterator[None]:
        """Nothing to do, no downtime: SQLite's online backup copies a consistent store live."""
        yield

    async def request_pairing_code(self, phone_number: str) -> str:
        """`PairPhone` on the connected, not-yet-logged-in client; emitted as `PairingCode` too."""
        digits = normalize_jid(phone_number).partition("@")[0]
        if not self._core.running or self._client is None:
            raise EngineStopped(f"the engine is {self._core.phase}")
        if self._core.logged_in:
            raise EngineError("already logged in: no pairing code needed")
        try:
            code = await neonize_loop().run(
                self._client.PairPhone(digits, self.options.pairing_push_notification)
            )
        except Exception as error:
            raise NotReady(f"WhatsApp did not give a pairing code: {error}") from error
        code = str(code)
        self._core.emit(PairingCode(code=code))
        return code

    # -- diagnostics and tests ---------------------------------------------------

    @property
    def phase(self) -> str:
        """new, running, conflicted, stopping, stopped or killed."""
        return self._core.phase.value

    @property
    def store_path(self) -> Path | None:
        """whatsmeow's SQLite store (None before start)."""
        return self._store

    @property
    def connect_attempts(self) -> int:
        """How many times `connect()` was called (1 + retries)."""
        return self._connect_attempts

    @property
    def last_connect_error(self) -> str | None:
        """The error of the last failed connect attempt, if any."""
        return self._last_error

    def handle_neonize_event(self, event: Any) -> None:
        """Apply one neonize event (protobuf) as if Go had delivered it (also for tests)."""
        self._apply(self._core.generation, event)

    # -- neonize side (runs on the neonize loop) ----------------------------------

    async def _make_client(self, store: str) -> Any:
        """NewAClient with our handlers; built on the neonize loop, where it will live."""
        from neonize.aioze import events as ev
        from neonize.aioze.client import NewAClient

        client = NewAClient(store)
        generation = self._core.generation
        forward = self._forwarder(generation)

        async def on_event(_: Any, message: Any) -> None:
            forward(message)

        async def on_qr(_: Any, data: bytes) -> None:
            forward(data)

        for kind in (
            ev.PairStatusEv,
            ev.ConnectedEv,
            ev.DisconnectedEv,
            ev.ConnectFailureEv,
            ev.StreamErrorEv,
            ev.TemporaryBanEv,
            ev.ClientOutdatedEv,
            ev.LoggedOutEv,
            ev.StreamReplacedEv,
            ev.MessageEv,
            ev.ReceiptEv,
        ):
            client.event(kind)(on_event)
        client.event.qr(on_qr)
        return client

    def _forwarder(self, generation: int) -> Callable[[Any], None]:
        """A thread-safe hop from the neonize loop to ours, dropped once the engine moved on."""
        loop = self._loop
        assert loop is not None

        def forward(message: Any) -> None:
            if generation != self._core.generation or not self._core.running:
                return
            with contextlib.suppress(RuntimeError):  # our loop closed: nobody to tell
                loop.call_soon_threadsafe(self._apply, generation, message)

        return forward

    @staticmethod
    async def _connect(client: Any) -> None:
        """`connect()` then wait for Go's `Neonize()` call to return (error or stop)."""
        task = await client.connect()
        await task

    # -- connection lifecycle ----------------------------------------------------

    async def _keep_connected(self, first_attempt: asyncio.Future[None]) -> None:
        """Connect; on failure emit Disconnected and retry with backoff while running."""
        backoff = Backoff(self.options.reconnect_backoff_s, self.options.reconnect_backoff_max_s)
        try:
            while self._core.running:
                self._connect_attempts += 1
                self._connecting = neonize_loop().run(self._connect(self._client))
                connecting = self._connecting
                if not first_attempt.done():
                    connecting.add_done_callback(lambda _: _settle(first_attempt))
                try:
                    await asyncio.shield(connecting)
                    reason = "the connection ended"
                    backoff.reset()  # it was up: start over
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    reason = f"connect failed: {error}"
                    self._last_error = str(error)
                    log.warning("neonize %s; retrying", reason)
                if not self._core.running:
                    return
                self._core.go_down()
                self._core.emit(Disconnected(reason=reason))
                await asyncio.sleep(backoff.next())
        finally:
            _settle(first_attempt)

    def _apply(self, generation: int, message: Any) -> None:
        """One neonize event (protobuf, or the QR callback's bytes) on our loop."""
        if generation != self._core.generation or not self._core.running:
            return
        if self._first_attempt is not None:  # Go answered: the client is up, start() returns
            _settle(self._first_attempt)
        try:
            if isinstance(message, bytes | str):
                events = map_qr(message, expires_in_s=self.options.qr_lifetime_s)
            else:
                events = map_neonize_event(message, qr_lifetime_s=self.options.qr_lifetime_s)
        except Exception:
            log.exception("could not map a neonize event: %.200r", message)
            return
        for event in events:
            if isinstance(event, Connected) and not self._core.logged_in:
                self._core.login(self._me())  # a restored session connects without PairStatus
            self._core.apply(event)
            if isinstance(event, Conflict):
                self._after_conflict()
                return  # fenced: what followed it is stale

    def _after_conflict(self) -> None:
        """Stream replaced: stop Go's client so it cannot reconnect (the core fenced the engine)."""
        if self._client is not None:
            future = neonize_loop().run(self._client.stop())
            future.add_done_callback(_log_failure("stopping the client after a conflict"))
            _no_second_stop_at_gc(self._client)

    def _me(self) -> str | None:
        """The logged-in account's JID as neonize learnt it (its `me` Device), if it did."""
        from session_runner.session.engines.protocol_events import jid_to_str

        me = getattr(self._client, "me", None)
        jid = jid_to_str(getattr(me, "JID", None)) if me is not None else ""
        return jid or None

    # -- sending plumbing ---------------------------------------------------------

    def _sendable_client(self) -> Any:
        self._core.check_sendable("not logged in and connected to WhatsApp")
        if self._client is None:
            raise NotReady("not logged in and connected to WhatsApp")
        return self._client

    async def _in_flight(self, call: Coroutine[Any, Any, T]) -> T:
        """Run a neonize call on its loop; stop/kill/conflict interrupt it with `SendInterrupted`."""
        task = neonize_loop().run(call)
        await self._core.in_flight.wait(
            task,
            answer_within_s=self.options.send_timeout_s,
            no_answer="WhatsApp did not answer the send in time",
        )
        try:
            return task.result()
        except Exception as error:
            raise self._send_error(error) from error

    def _send_error(self, error: Exception) -> EngineError:
        """A failed neonize send: quota → rejected (and signalled); gone → not ready/interrupted."""
        text = str(error)
        lowered = text.lower()
        if not self._core.running:
            return SendInterrupted(f"the engine stopped during the send: {text[:200]}")
        if (code := quota_code(whatsmeow_error_code(error))) is not None:
            self._core.emit(QuotaSignal(code=code, detail=text[:200]))
            return SendRejected(code, retryable=False, detail=text[:200])
        if "not connected" in lowered or "device jid" in lowered:
            return NotReady(f"not connected to WhatsApp: {text[:200]}")
        if "timed out" in lowered or "deadline" in lowered or "context canceled" in lowered:
            return SendInterrupted(f"no answer from WhatsApp: {text[:200]}")
        return SendRejected(0, retryable=True, detail=text[:200])

    def _sent(self, response: Any) -> str:
        message_id = str(getattr(response, "ID", "") or "")
        if not message_id:
            raise SendInterrupted(f"WhatsApp returned no message id: {response!r:.200}")
        self._core.ack(message_id, AckStatus.SENT)
        return message_id


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _no_second_stop_at_gc(client: Any) -> None:
    """Once we have stopped a client, keep neonize from calling Go's Stop for it again at GC.

    neonize (0.5.2) registers `weakref.finalize(client, _release_ffi, ...)`,
    which calls Go's `Stop(uuid)` whenever the Python object is collected: at
    any allocation, on whatever thread happens to run the collector. A
    clean-clone CI run aborted the whole process ("Fatal Python error:
    Aborted") inside that call, made by the collector on the neonize loop
    while it was stopping another client. After our own Stop, that call could
    only be a second Stop of the same client at an uncontrolled moment.
    """
    finalizer = getattr(client, "_stop_finalizer", None)
    if isinstance(finalizer, weakref.finalize):
        finalizer.detach()


def _stop_go_client(uuid: bytes) -> None:
    """neonize's `Stop(uuid)`: cancel the Go client's context (websocket closes, connect returns)."""
    try:
        from neonize._binder import gocode

        gocode.Stop(uuid)
    except Exception:  # best effort: the engine is already dead to the runner
        log.exception("neonize Stop failed after kill()")


def _log_failure(what: str) -> Callable[[asyncio.Future[Any]], None]:
    def done(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and (error := future.exception()) is not None:
            log.warning("%s failed: %s", what, error)

    return done
