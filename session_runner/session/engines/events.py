"""Typed engine events: what every engine reports, whatever it talks to.

The browser engine (WhatsApp Web + wa-js), the protocol engine (neonize) and the
local simulation all emit exactly these models, so the runner's loop, its status
reports, its logs and the events it forwards to webhooks never branch on the
engine. Each model is frozen (an event is a fact, not a mutable record) and
carries `at`, the UTC moment the engine observed it.

`EngineEvent` is one discriminated union on the `type` field; `EVENT_ADAPTER`
(a pydantic `TypeAdapter`) parses and serialises it, so a line the runner logged
or forwarded reads back as the same model.

`MediaRef` (outbound media: a file on disk, already checked) lives here too: it
is plain data shared by every engine, like the events.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

#: Lowercase hex sha256, the form wafleet uses everywhere (WhatsApp's own
#: `fileSha256` is base64 of the same bytes; engines convert).
SHA256_HEX_PATTERN = r"^[0-9a-f]{64}$"
#: `type/subtype`, loose on purpose: the MIME allow-list is the media layer's job.
MIME_PATTERN = r"^[A-Za-z0-9][\w.+-]*/[\w.+-]+$"

_HASH_CHUNK = 1 << 20


def utcnow() -> datetime:
    """The default `at`: now, aware, in UTC."""
    return datetime.now(UTC)


def _as_utc(value: datetime) -> datetime:
    """Normalise every timestamp to UTC so equal moments compare and serialise equal."""
    return value.astimezone(UTC)


#: An aware datetime converted to UTC. Naive datetimes are refused: an event
#: whose time zone is a guess would mis-order logs from different hosts.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]


class _Frozen(BaseModel):
    """Frozen and strict about unknown fields: producers and consumers ship in one image."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class AckStatus(StrEnum):
    """How far an outbound message got, in WhatsApp's order (`failed` is terminal)."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        """Position in the progression; `failed` outranks everything (nothing follows it)."""
        return _ACK_RANK[self]

    def supersedes(self, previous: AckStatus | None) -> bool:
        """Whether this ack moves a message forward from `previous`.

        WhatsApp delivers receipts out of order (a read receipt can overtake the
        delivery receipt); engines use this to drop regressions so consumers see
        a monotonic progression per message id.
        """
        if previous is None:
            return True
        if previous is AckStatus.FAILED:
            return False
        return self.rank > previous.rank


_ACK_RANK: dict[AckStatus, int] = {
    AckStatus.SENT: 1,
    AckStatus.DELIVERED: 2,
    AckStatus.READ: 3,
    AckStatus.PLAYED: 4,
    AckStatus.FAILED: 5,
}


class MediaInfo(_Frozen):
    """Media attached to an inbound message. The caption, if any, is the message's `text`."""

    mime_type: str = Field(pattern=MIME_PATTERN)
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=SHA256_HEX_PATTERN)
    filename: str | None = None
    #: Where the engine stored the downloaded file; None while it is only
    #: announced (engines download lazily, streamed, never on the event loop).
    path: Path | None = None


class MediaRef(_Frozen):
    """An outbound media file: path, MIME type, size and sha256, known before sending.

    Size and hash travel with the path so an engine can check the file did not
    change between queueing and sending without reading it on the event loop.
    """

    path: Path
    mime_type: str = Field(pattern=MIME_PATTERN)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256_HEX_PATTERN)
    #: The name recipients see for documents; None means `path.name`.
    filename: str | None = None

    @classmethod
    def from_file(cls, path: Path, mime_type: str, *, filename: str | None = None) -> MediaRef:
        """Measure and hash `path`, streamed in 1 MiB chunks.

        Blocking (it reads the whole file): call it from a thread, or use
        `from_file_async`, never directly on the event loop.
        """
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return cls(
            path=path, mime_type=mime_type, size=size, sha256=digest.hexdigest(), filename=filename
        )

    @classmethod
    async def from_file_async(
        cls, path: Path, mime_type: str, *, filename: str | None = None
    ) -> MediaRef:
        """`from_file` in a worker thread, so a 100 MB file never stalls the event loop."""
        return await asyncio.to_thread(cls.from_file, path, mime_type, filename=filename)


class _Event(_Frozen):
    """Fields every event has. `type` is overridden by each event with its literal tag."""

    type: str
    at: UtcDatetime = Field(default_factory=utcnow)


class QrCode(_Event):
    """A login QR payload to show; it stops working after `expires_in_s` (a new one follows)."""

    type: Literal["qr_code"] = "qr_code"
    payload: str = Field(min_length=1)
    expires_in_s: float = Field(ge=0, allow_inf_nan=False)


class PairingCode(_Event):
    """A code to type on the phone (Linked devices → Link with phone number) instead of a QR."""

    type: Literal["pairing_code"] = "pairing_code"
    code: str = Field(min_length=1)


class LoggedIn(_Event):
    """The session is authenticated as `jid` (fresh login, or a restored session accepted)."""

    type: Literal["logged_in"] = "logged_in"
    jid: str = Field(min_length=1)


class LoggedOut(_Event):
    """The session is no longer authenticated: the device was unlinked; a new login is needed."""

    type: Literal["logged_out"] = "logged_out"
    reason: str


class Connected(_Event):
    """The engine's connection to WhatsApp is up."""

    type: Literal["connected"] = "connected"


class Disconnected(_Event):
    """The connection to WhatsApp is down (the engine may reconnect on its own)."""

    type: Literal["disconnected"] = "disconnected"
    reason: str


class Conflict(_Event):
    """ "Stream replaced": another client took this session.

    wafleet treats it as a fencing event: the engine stops being ready and never
    reconnects by itself, and the runner stops the session. Two live clients of
    one account lose events for good.
    """

    type: Literal["conflict"] = "conflict"
    detail: str


class QuotaSignal(_Event):
    """WhatsApp pushed back on sending: 463 (reach-out timelock) or 475 (account restricted)."""

    type: Literal["quota_signal"] = "quota_signal"
    code: Literal[463, 475]
    detail: str


class InboundMessage(_Event):
    """A message someone sent to this account. `timestamp` is WhatsApp's, `at` is ours."""

    type: Literal["inbound_message"] = "inbound_message"
    message_id: str = Field(min_length=1)
    chat_jid: str = Field(min_length=1)
    sender_jid: str = Field(min_length=1)
    text: str | None = None
    media: MediaInfo | None = None
    timestamp: UtcDatetime


class MessageAck(_Event):
    """Progress of an outbound message (per message id, monotonic; see `AckStatus`)."""

    type: Literal["message_ack"] = "message_ack"
    message_id: str = Field(min_length=1)
    status: AckStatus
    error_code: int | None = None


#: Every event an engine emits, discriminated by `type`.
EngineEvent = Annotated[
    QrCode
    | PairingCode
    | LoggedIn
    | LoggedOut
    | Connected
    | Disconnected
    | Conflict
    | QuotaSignal
    | InboundMessage
    | MessageAck,
    Field(discriminator="type"),
]

#: Parses and serialises `EngineEvent` (JSON or Python data).
EVENT_ADAPTER: TypeAdapter[EngineEvent] = TypeAdapter(EngineEvent)


def parse_event(data: str | bytes) -> EngineEvent:
    """One event from its JSON form (a log line, a forwarded message)."""
    return EVENT_ADAPTER.validate_json(data)


def event_from_dict(data: Mapping[str, Any]) -> EngineEvent:
    """One event from already-decoded JSON data."""
    return EVENT_ADAPTER.validate_python(data)


def event_to_json(event: EngineEvent) -> str:
    """The JSON form of an event: `parse_event(event_to_json(e)) == e`."""
    return EVENT_ADAPTER.dump_json(event).decode()


def event_to_dict(event: EngineEvent) -> dict[str, Any]:
    """JSON-compatible data for an event (for structured log fields)."""
    data: dict[str, Any] = EVENT_ADAPTER.dump_python(event, mode="json")
    return data
