"""The one interface the session runner drives, whatever talks to WhatsApp.

An `Engine` is the browser engine (WhatsApp Web in Chromium), the protocol
engine (neonize) or the local simulation. The runner starts it only while it
holds the account's lease, reads its events, sends through it, and kills it the
moment the lease is lost. This docstring is the contract every engine keeps.

Lifecycle
    `start(session_dir)` returns once the engine runs (it may still be waiting
    for a login); everything after that arrives as events. An engine instance
    starts once. `stop()` is graceful and idempotent. `kill()` is synchronous,
    idempotent and immediate: no awaits, no further I/O to WhatsApp, no further
    writes to the session dir (the runner calls it after losing its lease,
    when another runner may already own the session); a process-backed engine
    SIGKILLs its process group. `kill()` after `stop()` does nothing.
    `kill()` is not thread-safe: call it on the engine's event loop (from
    another thread, use `loop.call_soon_threadsafe(engine.kill)`).

Events
    `events()` has one consumer and yields events in the order the engine
    observed them. After `stop()` it yields what was emitted before the stop
    (the last event is usually `Disconnected("stopped")`) and then ends. After
    `kill()` it ends at once: events not yet taken are dropped, because the
    runner no longer holds the lease and must not act on them.

    Per outbound message id, `MessageAck`s progress monotonically
    (sent → delivered → read → played; `failed` is terminal); regressions
    are dropped. An ack may arrive before `send_*` has returned that id (real
    engines race the server's echo), so consumers must accept acks for ids they
    have not seen yet. `LoggedIn` and `Connected` may come in either order (a
    restored session usually connects first): readiness is `ready`, not an
    event sequence.

    `Conflict` ("stream replaced": another client took the session) is a
    fencing event: it is followed by `Disconnected`, the engine is never ready
    again and never reconnects by itself; the runner stops the session.

Sending
    `send_text` / `send_media` return WhatsApp's message id once the engine
    handed the message to WhatsApp; delivery is reported by acks. The error
    says whether the message may have left:

    - `NotReady` (and its subclass `EngineStopped`): not logged in and
      connected, or stopped; the message was definitely not sent. Retry later
      or elsewhere.
    - `SendRejected(code, retryable)`: WhatsApp refused it (e.g. 475, account
      restricted); definitely not sent.
    - `SendInterrupted`: the send was in flight when the engine stopped, was
      killed, or lost its session; it may or may not have reached WhatsApp.
      Retry only under the same idempotency key, which the ledger checks.
    - `ValueError`: the request itself is wrong (not a phone number or JID,
      a media file missing or changed since its `MediaRef` was made).

    On `kill()` and `stop()` every pending send raises `SendInterrupted` and
    no ack is emitted for messages sent before (their receipts reach whoever
    holds the session next). `idempotency_key`: an engine that has already
    sent a message under that key returns the same message id instead of
    sending again, within its own lifetime; the durable guarantee is the
    idempotency ledger's.

Snapshots
    `quiesce()` is an async context manager: inside it the session dir is
    consistent and not being written (the browser engine closes Chromium and
    relaunches it on exit; the protocol engine needs nothing, SQLite's online
    backup is consistent). The default is a no-op.
"""

from __future__ import annotations

import abc
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

from session_runner.session.engines.events import EngineEvent, MediaRef

__all__ = [
    "Engine",
    "EngineError",
    "EngineStopped",
    "EngineUnavailable",
    "MediaRef",
    "NotReady",
    "SendInterrupted",
    "SendRejected",
    "normalize_jid",
]

_PHONE_SEPARATORS = re.compile(r"[\s().-]")


class EngineError(Exception):
    """Anything an engine refuses or fails to do."""


class EngineUnavailable(EngineError):  # noqa: N818 - the contract's names
    """The requested engine kind does not exist or is not built into this image."""


class NotReady(EngineError):  # noqa: N818 - the contract's names
    """The engine is not logged in and connected: the message was not sent."""


class EngineStopped(NotReady):
    """The engine was stopped, killed or never started: it will not become ready again."""


class SendInterrupted(EngineError):  # noqa: N818 - the contract's names
    """A send in flight was cut off (stop, kill, lost session): it may have reached WhatsApp."""


class SendRejected(EngineError):  # noqa: N818 - the contract's names
    """WhatsApp refused the message; it was not sent.

    `retryable` says whether the same message may succeed later (a transient
    server error) or never will as things stand (463/475: the account is
    throttled or restricted; an invalid recipient).
    """

    def __init__(self, code: int, retryable: bool, detail: str = "") -> None:
        self.code = code
        self.retryable = retryable
        self.detail = detail
        text = f"WhatsApp rejected the message ({code}, {'retryable' if retryable else 'final'})"
        super().__init__(f"{text}: {detail}" if detail else text)


def normalize_jid(to: str) -> str:
    """A recipient as a JID: `+1 555 0100` → `15550100@s.whatsapp.net`; JIDs pass unchanged.

    Every engine accepts both forms, so callers can pass the E.164 numbers
    they store and group JIDs (`…@g.us`) alike.
    """
    value = to.strip()
    if "@" in value:
        user, _, server = value.partition("@")
        if not user or not server:
            raise ValueError(f"not a JID: {to!r}")
        return value
    digits = _PHONE_SEPARATORS.sub("", value).removeprefix("+")
    if not digits.isdigit() or not 5 <= len(digits) <= 15:
        raise ValueError(f"not a phone number or JID: {to!r}")
    return f"{digits}@s.whatsapp.net"


class Engine(abc.ABC):
    """What the runner drives: see the module docstring for the full contract."""

    #: The engine kind, as in `spec.engine` ("browser", "protocol", "local").
    name: ClassVar[str]

    @abc.abstractmethod
    async def start(self, session_dir: Path) -> None:
        """Start on `session_dir` (restored or empty); return once running. Once per instance."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop gracefully: fail pending sends, disconnect, end `events()`. Idempotent."""

    @abc.abstractmethod
    def kill(self) -> None:
        """Stop all activity now, synchronously (lease lost). Idempotent; no-op after `stop()`."""

    @abc.abstractmethod
    def events(self) -> AsyncIterator[EngineEvent]:
        """The event stream (one consumer); ends after `stop()` or `kill()`."""

    @abc.abstractmethod
    async def send_text(self, to: str, text: str, *, idempotency_key: str | None = None) -> str:
        """Send `text` to `to` (phone number or JID); return WhatsApp's message id."""

    @abc.abstractmethod
    async def send_media(
        self,
        to: str,
        media: MediaRef,
        caption: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> str:
        """Send a media file (streamed, never read whole on the loop); return the message id."""

    @property
    @abc.abstractmethod
    def ready(self) -> bool:
        """Logged in and connected: what the runner's readiness probe reports."""

    def sent_under(self, idempotency_key: str) -> str | None:
        """WhatsApp's id of the message this engine sent under `idempotency_key`, if it did.

        Only this engine's own lifetime counts (a new engine knows nothing): the outbound
        sender asks it before sending again after its claim ran out mid-send.
        """
        return None

    @contextlib.asynccontextmanager
    async def quiesce(self) -> AsyncIterator[None]:
        """Hold the session dir consistent and unwritten for a snapshot. Default: nothing to do."""
        yield

    async def request_pairing_code(self, phone_number: str) -> str:
        """Ask for a pairing code (emitted as `PairingCode` too) instead of a QR login.

        Optional: engines that cannot do it raise `NotImplementedError`.
        """
        raise NotImplementedError(f"the {self.name} engine does not offer pairing-code login")
