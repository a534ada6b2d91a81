"""Engines: what talks to WhatsApp (browser, protocol, local), behind one interface.

`base` holds the interface and its contract, `events` the typed events every
engine emits, `registry.create_engine` picks one by `spec.engine`.
"""

from session_runner.session.engines.base import (
    Engine,
    EngineError,
    EngineStopped,
    EngineUnavailable,
    NotReady,
    SendInterrupted,
    SendRejected,
    normalize_jid,
)
from session_runner.session.engines.events import (
    EVENT_ADAPTER,
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
    event_to_json,
    parse_event,
)
from session_runner.session.engines.registry import create_engine

__all__ = [
    "EVENT_ADAPTER",
    "AckStatus",
    "Conflict",
    "Connected",
    "Disconnected",
    "Engine",
    "EngineError",
    "EngineEvent",
    "EngineStopped",
    "EngineUnavailable",
    "InboundMessage",
    "LoggedIn",
    "LoggedOut",
    "MediaInfo",
    "MediaRef",
    "MessageAck",
    "NotReady",
    "PairingCode",
    "QrCode",
    "QuotaSignal",
    "SendInterrupted",
    "SendRejected",
    "create_engine",
    "event_to_json",
    "normalize_jid",
    "parse_event",
]
