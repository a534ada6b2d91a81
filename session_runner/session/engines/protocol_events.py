"""neonize's events → engine events: the protocol engine's mapping, pure and table-tested.

Kept apart from `protocol.py` so the mapping is a plain function over
neonize's own protobuf event objects (`neonize.proto.Neonize_pb2`): the unit
test builds real `Message`, `Receipt`, `PairStatus`… objects and checks what
comes out, without a Go client, a loop or a network. The engine adds only
what needs state: readiness, per-message ack monotonicity, the fence after a
conflict, and a `LoggedIn` when a restored session connects.

=============================== =============================================
neonize event                   engine events
=============================== =============================================
QR callback (bytes) / QREv      QrCode(payload) (QREv: its first code)
PairStatusEv SUCCESS            LoggedIn(jid of the new device's account)
PairStatusEv ERROR              nothing (the next QR follows; logged)
ConnectedEv                     Connected (the engine adds LoggedIn first if
                                none was seen: whatsmeow connects only a
                                logged-in session)
DisconnectedEv                  Disconnected("connection lost"); whatsmeow
                                reconnects by itself
KeepAliveTimeoutEv              nothing (whatsmeow reconnects if it lasts)
ConnectFailureEv                Disconnected("connect failure: <reason>")
StreamErrorEv                   Disconnected("stream error: <code>")
TemporaryBanEv                  Disconnected("temporary ban: <reason>")
ClientOutdatedEv                Disconnected("client outdated")
LoggedOutEv                     LoggedOut(reason), Disconnected("logged out")
StreamReplacedEv                Conflict, Disconnected("conflict") — fenced
MessageEv (not from me)         InboundMessage (text or caption, MediaInfo)
ReceiptEv DELIVERED / READ /    MessageAck delivered / read / played per id
PLAYED                          (one per `MessageIDs` entry)
ReceiptEv SERVER_ERROR          MessageAck failed per id
ReceiptEv others (SENDER,       nothing: they are about our other devices,
READ_SELF, PLAYED_SELF, RETRY,  retries whatsmeow handles, or history sync
INACTIVE, PEER_MSG, HIST_SYNC)
anything else                   nothing
=============================== =============================================
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from neonize.proto import Neonize_pb2 as neonize_proto

from session_runner.session.engines.events import (
    AckStatus,
    Conflict,
    Connected,
    Disconnected,
    EngineEvent,
    InboundMessage,
    LoggedIn,
    LoggedOut,
    MediaInfo,
    MessageAck,
    QrCode,
)

__all__ = [
    "RECEIPT_ACKS",
    "jid_to_str",
    "map_neonize_event",
    "map_qr",
    "whatsapp_timestamp",
]

_Receipt = neonize_proto.Receipt

#: whatsmeow receipt types that move one of our outbound messages forward.
RECEIPT_ACKS: dict[int, AckStatus] = {
    _Receipt.DELIVERED: AckStatus.DELIVERED,
    _Receipt.READ: AckStatus.READ,
    _Receipt.PLAYED: AckStatus.PLAYED,
    _Receipt.SERVER_ERROR: AckStatus.FAILED,
}

#: The message fields of `waE2E.Message` that carry media, and the MediaInfo they give.
_MEDIA_FIELDS = (
    "imageMessage",
    "videoMessage",
    "audioMessage",
    "documentMessage",
    "stickerMessage",
)


def jid_to_str(jid: Any) -> str:
    """A neonize `JID` as `user@server` (device suffix dropped: the account, not the phone)."""
    user = str(getattr(jid, "User", "") or "")
    server = str(getattr(jid, "Server", "") or "")
    if not user:
        return ""
    return f"{user}@{server or 's.whatsapp.net'}"


def whatsapp_timestamp(value: int) -> datetime:
    """WhatsApp's timestamp as aware UTC: seconds, or milliseconds when it is that large."""
    if value <= 0:
        return datetime.now(UTC)
    seconds = value / 1000 if value > 100_000_000_000 else value
    return datetime.fromtimestamp(seconds, UTC)


def map_qr(payload: bytes | str, *, expires_in_s: float) -> list[EngineEvent]:
    """The QR callback's data (what the phone scans) → `QrCode`; empty data → nothing."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    text = text.strip()
    return [QrCode(payload=text, expires_in_s=expires_in_s)] if text else []


def _enum_name(enum: Any, value: int) -> str:
    try:
        return str(enum.Name(value))
    except (ValueError, AttributeError):
        return str(value)


def _inbound(event: neonize_proto.Message) -> list[EngineEvent]:
    info = event.Info
    source = info.MessageSource
    if source.IsFromMe or not info.ID:
        return []
    chat = jid_to_str(source.Chat)
    sender = jid_to_str(source.Sender) or chat
    if not chat:
        return []
    content = event.Message
    text: str | None = None
    media: MediaInfo | None = None
    if content.conversation:
        text = content.conversation
    elif content.HasField("extendedTextMessage"):
        text = content.extendedTextMessage.text or None
    for field in _MEDIA_FIELDS:
        if not content.HasField(field):
            continue
        part = getattr(content, field)
        mime = str(part.mimetype or "").split(";")[0].strip()
        if field == "stickerMessage" and not mime:
            mime = "image/webp"
        try:
            media = MediaInfo(
                mime_type=mime or "application/octet-stream",
                size=int(part.fileLength) if part.fileLength else None,
                sha256=part.fileSHA256.hex() if len(part.fileSHA256) == 32 else None,
                filename=getattr(part, "fileName", None) or None,
            )
        except ValueError:
            media = MediaInfo(mime_type="application/octet-stream")
        caption = getattr(part, "caption", "")
        text = caption or text
        break
    return [
        InboundMessage(
            message_id=info.ID,
            chat_jid=chat,
            sender_jid=sender,
            text=text,
            media=media,
            timestamp=whatsapp_timestamp(int(info.Timestamp)),
        )
    ]


def _receipt(event: neonize_proto.Receipt) -> list[EngineEvent]:
    status = RECEIPT_ACKS.get(int(event.Type))
    if status is None:
        return []
    return [MessageAck(message_id=mid, status=status) for mid in event.MessageIDs if mid]


def map_neonize_event(event: Any, *, qr_lifetime_s: float = 20.0) -> list[EngineEvent]:
    """What one neonize event means for the engine interface (see the module table).

    Pure: the same event always gives the same list (up to `at`). Unknown
    event types give an empty list, so a neonize upgrade that adds events
    changes nothing until they are mapped here.
    """
    if isinstance(event, neonize_proto.QR):
        codes = [code for code in event.Codes if code]
        return map_qr(codes[0], expires_in_s=qr_lifetime_s) if codes else []
    if isinstance(event, neonize_proto.PairStatus):
        if event.Status == neonize_proto.PairStatus.SUCCESS:
            jid = jid_to_str(event.ID)
            return [LoggedIn(jid=jid)] if jid else []
        return []
    if isinstance(event, neonize_proto.Connected):
        return [Connected()]
    if isinstance(event, neonize_proto.Disconnected):
        return [Disconnected(reason="connection lost")]
    if isinstance(event, neonize_proto.ConnectFailure):
        reason = _enum_name(neonize_proto.ConnectFailureReason, event.Reason)
        detail = f": {event.Message}" if event.Message else ""
        return [Disconnected(reason=f"connect failure: {reason}{detail}")]
    if isinstance(event, neonize_proto.StreamError):
        return [Disconnected(reason=f"stream error: {getattr(event, 'Code', '') or 'unknown'}")]
    if isinstance(event, neonize_proto.TemporaryBan):
        reason = _enum_name(neonize_proto.TemporaryBan.TempBanReason, event.Code)
        return [Disconnected(reason=f"temporary ban: {reason}")]
    if isinstance(event, neonize_proto.ClientOutdated):
        return [Disconnected(reason="client outdated: update neonize/whatsmeow")]
    if isinstance(event, neonize_proto.LoggedOut):
        reason = _enum_name(neonize_proto.ConnectFailureReason, event.Reason)
        when = " on connect" if event.OnConnect else ""
        return [
            LoggedOut(reason=f"logged out{when}: {reason}"),
            Disconnected(reason="logged out"),
        ]
    if isinstance(event, neonize_proto.StreamReplaced):
        return [
            Conflict(detail="stream replaced: another client connected with this session"),
            Disconnected(reason="conflict"),
        ]
    if isinstance(event, neonize_proto.Message):
        return _inbound(event)
    if isinstance(event, neonize_proto.Receipt):
        return _receipt(event)
    return []
