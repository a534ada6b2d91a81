"""The browser bridge's events → engine events: the browser engine's mapping, pure and table-tested.

`browser_bridge.js` forwards WPP events from the page as JSON
`{"kind": ..., "data": ...}` (models already flattened to strings and numbers).
This module turns one such payload into engine events, with no page, no loop
and no state, so the table test feeds it the payloads the bridge sends and
checks what comes out. The engine's state (readiness, ack monotonicity, the
conflict fence, no QR once logged in) is the core's (`core.EngineCore.apply`),
exactly as for the protocol engine's `protocol_events.py`.

=============================== ==========================================
bridge event (WPP event)        engine events
=============================== ==========================================
auth_code {fullCode}            QrCode(payload=fullCode); null: nothing
(conn.auth_code_change)
authenticated {me}              LoggedIn(me, else the account's JID)
main_ready {me}                 LoggedIn, Connected
logout                          LoggedOut, Disconnected("logged out")
stream_mode {mode: CONFLICT}    Conflict, Disconnected("conflict"); other
                                modes: nothing
message (not fromMe)            InboundMessage (JIDs as …@s.whatsapp.net)
ack {ack, ids}                  MessageAck per id: -1 failed, 1 sent,
                                2 delivered, 3 read, 4 played (0 = clock,
                                still pending: nothing)
anything else                   nothing
=============================== ==========================================

`map_bridge_state` does the same for the state the bridge returns when it
attaches (events that fired before its listeners: a restored session's
main_ready, the first auth code).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

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
    "UNKNOWN_JID",
    "WA_ACKS",
    "from_wa",
    "map_bridge_event",
    "map_bridge_payload",
    "map_bridge_state",
    "to_wa",
]

log = logging.getLogger(__name__)

#: WhatsApp Web's ack numbers (wa-js `ACK`) → engine statuses; 0 (clock) is not an ack yet.
WA_ACKS: dict[int, AckStatus] = {
    -1: AckStatus.FAILED,
    1: AckStatus.SENT,
    2: AckStatus.DELIVERED,
    3: AckStatus.READ,
    4: AckStatus.PLAYED,
}

#: The JID a LoggedIn carries when neither the page nor the settings name the account.
UNKNOWN_JID = "unknown@s.whatsapp.net"

_MEDIA_TYPES = ("image", "video", "audio", "sticker", "document", "ptt")


def to_wa(jid: str) -> str:
    """WhatsApp Web names users `…@c.us`; the engine interface uses `…@s.whatsapp.net`."""
    user, _, server = jid.partition("@")
    return f"{user}@c.us" if server == "s.whatsapp.net" else jid


def from_wa(jid: str) -> str:
    """The inverse of `to_wa`, so every engine reports the same JIDs."""
    user, _, server = jid.partition("@")
    return f"{user}@s.whatsapp.net" if server == "c.us" else jid


def _logged_in(data: dict[str, Any] | None, account_jid: str | None) -> LoggedIn:
    me = data.get("me") if data is not None else None
    jid = from_wa(me) if isinstance(me, str) and me else (account_jid or UNKNOWN_JID)
    return LoggedIn(jid=jid)


def _inbound(data: dict[str, Any]) -> list[EngineEvent]:
    if data.get("fromMe") or not data.get("id") or not data.get("from"):
        return []
    chat = from_wa(str(data["from"]))
    sender = from_wa(str(data["author"])) if data.get("author") else chat
    kind = str(data.get("type") or "chat")
    media: MediaInfo | None = None
    mimetype = data.get("mimetype")
    if kind in _MEDIA_TYPES and isinstance(mimetype, str):
        try:
            media = MediaInfo(
                mime_type=mimetype.split(";")[0].strip(),
                size=data.get("size"),
                filename=data.get("filename"),
            )
        except ValueError:
            log.warning("inbound media with an odd MIME type %r", mimetype)
    text = data.get("caption") if media is not None else data.get("body")
    seconds = data.get("t")
    timestamp = (
        datetime.fromtimestamp(seconds, UTC)
        if isinstance(seconds, int | float) and not isinstance(seconds, bool)
        else datetime.now(UTC)
    )
    return [
        InboundMessage(
            message_id=str(data["id"]),
            chat_jid=chat,
            sender_jid=sender,
            text=text if isinstance(text, str) else None,
            media=media,
            timestamp=timestamp,
        )
    ]


def _acks(data: dict[str, Any]) -> list[EngineEvent]:
    try:
        status = WA_ACKS.get(int(data.get("ack", 0)))
    except (TypeError, ValueError):
        return []
    if status is None:
        return []
    ids = data.get("ids") or []
    return [
        MessageAck(message_id=message_id, status=status)
        for message_id in (ids if isinstance(ids, list) else [])
        if isinstance(message_id, str) and message_id
    ]


def map_bridge_event(
    kind: str,
    data: dict[str, Any] | None,
    *,
    qr_lifetime_s: float = 20.0,
    account_jid: str | None = None,
) -> list[EngineEvent]:
    """What one bridge event means for the engine interface (see the module table).

    Pure: the same payload always gives the same list (up to `at`; an inbound
    message without `t` is stamped now). `account_jid` names the account when
    the page does not (`me` missing). Unknown kinds give an empty list.
    """
    if kind == "auth_code":
        code = data.get("fullCode") if data is not None else None
        return (
            [QrCode(payload=code, expires_in_s=qr_lifetime_s)]
            if isinstance(code, str) and code
            else []
        )
    if kind == "authenticated":
        return [_logged_in(data, account_jid)]
    if kind == "main_ready":
        return [_logged_in(data, account_jid), Connected()]
    if kind == "logout":
        return [
            LoggedOut(reason="logged out: the device was unlinked"),
            Disconnected(reason="logged out"),
        ]
    if kind == "stream_mode":
        if data is not None and str(data.get("mode", "")).upper() == "CONFLICT":
            return [
                Conflict(detail="stream replaced: WhatsApp Web reported CONFLICT"),
                Disconnected(reason="conflict"),
            ]
        return []
    if kind == "message" and data is not None:
        return _inbound(data)
    if kind == "ack" and data is not None:
        return _acks(data)
    return []


def map_bridge_payload(
    payload: Any, *, qr_lifetime_s: float = 20.0, account_jid: str | None = None
) -> list[EngineEvent]:
    """The binding's raw argument (a JSON string) → engine events; unreadable → ValueError."""
    message = json.loads(payload)
    if not isinstance(message, dict) or "kind" not in message:
        raise ValueError(f"not a bridge event: {payload!r:.200}")
    data = message.get("data")
    return map_bridge_event(
        str(message["kind"]),
        data if isinstance(data, dict) else None,
        qr_lifetime_s=qr_lifetime_s,
        account_jid=account_jid,
    )


def map_bridge_state(
    state: Any, *, qr_lifetime_s: float = 20.0, account_jid: str | None = None
) -> list[EngineEvent]:
    """The state the bridge returns on attach → the events its listeners missed."""
    if not isinstance(state, dict):
        return []
    events: list[EngineEvent] = []
    code = state.get("authCode")
    if isinstance(code, dict):
        events += map_bridge_event("auth_code", code, qr_lifetime_s=qr_lifetime_s)
    me = {"me": state.get("me")}
    if state.get("mainReady"):
        events += map_bridge_event("main_ready", me, account_jid=account_jid)
    elif state.get("authenticated"):
        events += map_bridge_event("authenticated", me, account_jid=account_jid)
    return events
