"""The browser bridge's JS payloads → engine events: the table of `browser_events.py`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from session_runner.session.engines.browser_events import (
    map_bridge_event,
    map_bridge_payload,
    map_bridge_state,
)
from session_runner.session.engines.events import EngineEvent

ACCOUNT = "15550100000@s.whatsapp.net"


def summary(events: list[EngineEvent]) -> list[tuple[str, dict[str, Any]]]:
    return [(e.type, e.model_dump(exclude={"type", "at"}, mode="json")) for e in events]


def message(**fields: Any) -> dict[str, Any]:
    base = {"id": "false_15550100009@c.us_ABC", "fromMe": False, "from": "15550100009@c.us"}
    return {**base, **fields}


TABLE: list[tuple[str, Any, list[tuple[str, dict[str, Any]]]]] = [
    (
        "auth_code",
        {"fullCode": "2@a,b,c"},
        [("qr_code", {"payload": "2@a,b,c", "expires_in_s": 20.0})],
    ),
    ("auth_code", None, []),
    ("auth_code", {"fullCode": ""}, []),
    (
        "authenticated",
        {"me": "15550100007@c.us"},
        [("logged_in", {"jid": "15550100007@s.whatsapp.net"})],
    ),
    ("authenticated", {"me": None}, [("logged_in", {"jid": ACCOUNT})]),
    ("main_ready", {"me": None}, [("logged_in", {"jid": ACCOUNT}), ("connected", {})]),
    (
        "logout",
        {},
        [
            ("logged_out", {"reason": "logged out: the device was unlinked"}),
            ("disconnected", {"reason": "logged out"}),
        ],
    ),
    (
        "stream_mode",
        {"mode": "CONFLICT"},
        [
            ("conflict", {"detail": "stream replaced: WhatsApp Web reported CONFLICT"}),
            ("disconnected", {"reason": "conflict"}),
        ],
    ),
    ("stream_mode", {"mode": "MAIN"}, []),
    ("message", message(fromMe=True, body="echo of our own send"), []),
    ("message", message(id=None, body="x"), []),
    (
        "message",
        message(body="hi", t=1_790_000_000),
        [
            (
                "inbound_message",
                {
                    "message_id": "false_15550100009@c.us_ABC",
                    "chat_jid": "15550100009@s.whatsapp.net",
                    "sender_jid": "15550100009@s.whatsapp.net",
                    "text": "hi",
                    "media": None,
                    "timestamp": "2026-09-21T14:13:20Z",
                },
            )
        ],
    ),
    (
        "message",
        message(
            **{"from": "120363000000000001@g.us"},
            author="15550100009@c.us",
            type="image",
            mimetype="image/jpeg; codecs=x",
            size=1234,
            caption="look",
            body="base64-thumbnail",
            t=1_790_000_000,
        ),
        [
            (
                "inbound_message",
                {
                    "message_id": "false_15550100009@c.us_ABC",
                    "chat_jid": "120363000000000001@g.us",
                    "sender_jid": "15550100009@s.whatsapp.net",
                    "text": "look",
                    "media": {
                        "mime_type": "image/jpeg",
                        "size": 1234,
                        "sha256": None,
                        "filename": None,
                        "path": None,
                    },
                    "timestamp": "2026-09-21T14:13:20Z",
                },
            )
        ],
    ),
    (
        "ack",
        {"ack": 2, "ids": ["M1", "", 7, "M2"]},
        [
            ("message_ack", {"message_id": "M1", "status": "delivered", "error_code": None}),
            ("message_ack", {"message_id": "M2", "status": "delivered", "error_code": None}),
        ],
    ),
    (
        "ack",
        {"ack": -1, "ids": ["M1"]},
        [("message_ack", {"message_id": "M1", "status": "failed", "error_code": None})],
    ),
    (
        "ack",
        {"ack": 4, "ids": ["M1"]},
        [("message_ack", {"message_id": "M1", "status": "played", "error_code": None})],
    ),
    ("ack", {"ack": 0, "ids": ["M1"]}, []),  # the clock: still pending
    ("ack", {"ack": "x", "ids": ["M1"]}, []),
    ("something_new", {"x": 1}, []),
]


@pytest.mark.parametrize(("kind", "data", "expected"), TABLE)
def test_mapping_table(kind: str, data: Any, expected: list[tuple[str, dict[str, Any]]]) -> None:
    assert summary(map_bridge_event(kind, data, account_jid=ACCOUNT)) == expected


def test_payloads_as_the_binding_gets_them() -> None:
    payload = json.dumps({"kind": "ack", "data": {"ack": 3, "ids": ["M1"]}})
    assert summary(map_bridge_payload(payload)) == [
        ("message_ack", {"message_id": "M1", "status": "read", "error_code": None})
    ]
    with pytest.raises(ValueError, match="Expecting value"):
        map_bridge_payload("not json")
    with pytest.raises(ValueError, match="not a bridge event"):
        map_bridge_payload(json.dumps(["no", "kind"]))


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (None, []),
        (
            {
                "authenticated": False,
                "mainReady": False,
                "me": None,
                "authCode": {"fullCode": "2@q"},
            },
            [("qr_code", {"payload": "2@q", "expires_in_s": 20.0})],
        ),
        (
            {"authenticated": True, "mainReady": True, "me": "15550100007@c.us", "authCode": None},
            [("logged_in", {"jid": "15550100007@s.whatsapp.net"}), ("connected", {})],
        ),
        (
            {"authenticated": True, "mainReady": False, "me": None, "authCode": None},
            [("logged_in", {"jid": ACCOUNT})],
        ),
    ],
)
def test_state_on_attach(state: Any, expected: list[tuple[str, dict[str, Any]]]) -> None:
    assert summary(map_bridge_state(state, account_jid=ACCOUNT)) == expected
