"""map_neonize_event on neonize's own protobuf event types (the package ships them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from neonize.aioze import events as ev
from neonize.proto import Neonize_pb2 as proto
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize.utils.jid import build_jid

from session_runner.session.engines.protocol_events import (
    map_neonize_event,
    map_qr,
    whatsapp_timestamp,
)

ALICE = build_jid("4915100000001")
ME = build_jid("4915112345678")
GROUP = build_jid("120363000000000001", "g.us")
SHA = bytes(range(32))
T0 = 1_790_000_000


def info(message_id: str, *, chat: Any = ALICE, sender: Any = ALICE, from_me: bool = False) -> Any:
    return proto.MessageInfo(
        ID=message_id,
        Timestamp=T0,
        MessageSource=proto.MessageSource(Chat=chat, Sender=sender, IsFromMe=from_me),
    )


def summary(events: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """(type, fields without `at`) per event, so the table reads as data."""
    return [
        (event.type, event.model_dump(mode="json", exclude={"at", "type"}, exclude_none=True))
        for event in events
    ]


CASES: list[tuple[str, Any, list[tuple[str, dict[str, Any]]]]] = [
    (
        "qr event",
        ev.QREv(Codes=["2@abc,def", "2@next"]),
        [("qr_code", {"payload": "2@abc,def", "expires_in_s": 20.0})],
    ),
    ("qr event without codes", ev.QREv(), []),
    (
        "pair success",
        ev.PairStatusEv(ID=ME, Status=proto.PairStatus.SUCCESS),
        [("logged_in", {"jid": "4915112345678@s.whatsapp.net"})],
    ),
    ("pair error", ev.PairStatusEv(Status=proto.PairStatus.ERROR, Error="bad"), []),
    ("connected", ev.ConnectedEv(status=True), [("connected", {})]),
    (
        "disconnected",
        ev.DisconnectedEv(status=True),
        [("disconnected", {"reason": "connection lost"})],
    ),
    (
        "connect failure",
        ev.ConnectFailureEv(Reason=proto.SERVICE_UNAVAILABLE, Message="503"),
        [("disconnected", {"reason": "connect failure: SERVICE_UNAVAILABLE: 503"})],
    ),
    (
        "stream error",
        ev.StreamErrorEv(Code="515"),
        [("disconnected", {"reason": "stream error: 515"})],
    ),
    (
        "temporary ban",
        ev.TemporaryBanEv(Code=proto.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=3600),
        [("disconnected", {"reason": "temporary ban: SEND_TO_TOO_MANY_PEOPLE"})],
    ),
    (
        "client outdated",
        ev.ClientOutdatedEv(),
        [("disconnected", {"reason": "client outdated: update neonize/whatsmeow"})],
    ),
    (
        "logged out",
        ev.LoggedOutEv(OnConnect=True, Reason=proto.LOGGED_OUT),
        [
            ("logged_out", {"reason": "logged out on connect: LOGGED_OUT"}),
            ("disconnected", {"reason": "logged out"}),
        ],
    ),
    (
        "stream replaced",
        ev.StreamReplacedEv(),
        [
            ("conflict", {"detail": "stream replaced: another client connected with this session"}),
            ("disconnected", {"reason": "conflict"}),
        ],
    ),
    (
        "text message",
        ev.MessageEv(Info=info("3EB0AA"), Message=e2e.Message(conversation="hello")),
        [
            (
                "inbound_message",
                {
                    "message_id": "3EB0AA",
                    "chat_jid": "4915100000001@s.whatsapp.net",
                    "sender_jid": "4915100000001@s.whatsapp.net",
                    "text": "hello",
                    "timestamp": "2026-09-21T14:13:20Z",
                },
            )
        ],
    ),
    (
        "extended text in a group",
        ev.MessageEv(
            Info=info("3EB0AB", chat=GROUP),
            Message=e2e.Message(extendedTextMessage=e2e.ExtendedTextMessage(text="hi all")),
        ),
        [
            (
                "inbound_message",
                {
                    "message_id": "3EB0AB",
                    "chat_jid": "120363000000000001@g.us",
                    "sender_jid": "4915100000001@s.whatsapp.net",
                    "text": "hi all",
                    "timestamp": "2026-09-21T14:13:20Z",
                },
            )
        ],
    ),
    (
        "image with caption",
        ev.MessageEv(
            Info=info("3EB0AC"),
            Message=e2e.Message(
                imageMessage=e2e.ImageMessage(
                    mimetype="image/jpeg", caption="look", fileLength=1234, fileSHA256=SHA
                )
            ),
        ),
        [
            (
                "inbound_message",
                {
                    "message_id": "3EB0AC",
                    "chat_jid": "4915100000001@s.whatsapp.net",
                    "sender_jid": "4915100000001@s.whatsapp.net",
                    "text": "look",
                    "media": {"mime_type": "image/jpeg", "size": 1234, "sha256": SHA.hex()},
                    "timestamp": "2026-09-21T14:13:20Z",
                },
            )
        ],
    ),
    (
        "document",
        ev.MessageEv(
            Info=info("3EB0AD"),
            Message=e2e.Message(
                documentMessage=e2e.DocumentMessage(
                    mimetype="application/pdf; charset=binary", fileName="a.pdf", fileLength=9
                )
            ),
        ),
        [
            (
                "inbound_message",
                {
                    "message_id": "3EB0AD",
                    "chat_jid": "4915100000001@s.whatsapp.net",
                    "sender_jid": "4915100000001@s.whatsapp.net",
                    "media": {"mime_type": "application/pdf", "size": 9, "filename": "a.pdf"},
                    "timestamp": "2026-09-21T14:13:20Z",
                },
            )
        ],
    ),
    (
        "our own message echoed from another device",
        ev.MessageEv(Info=info("3EB0AE", from_me=True), Message=e2e.Message(conversation="x")),
        [],
    ),
    (
        "delivered receipt for two ids",
        ev.ReceiptEv(MessageIDs=["M1", "M2"], Type=proto.Receipt.DELIVERED, Timestamp=T0),
        [
            ("message_ack", {"message_id": "M1", "status": "delivered"}),
            ("message_ack", {"message_id": "M2", "status": "delivered"}),
        ],
    ),
    (
        "read receipt",
        ev.ReceiptEv(MessageIDs=["M1"], Type=proto.Receipt.READ),
        [("message_ack", {"message_id": "M1", "status": "read"})],
    ),
    (
        "played receipt",
        ev.ReceiptEv(MessageIDs=["M1"], Type=proto.Receipt.PLAYED),
        [("message_ack", {"message_id": "M1", "status": "played"})],
    ),
    (
        "server error receipt",
        ev.ReceiptEv(MessageIDs=["M1"], Type=proto.Receipt.SERVER_ERROR),
        [("message_ack", {"message_id": "M1", "status": "failed"})],
    ),
    ("read on our other device", ev.ReceiptEv(MessageIDs=["M1"], Type=proto.Receipt.READ_SELF), []),
    ("sender receipt", ev.ReceiptEv(MessageIDs=["M1"], Type=proto.Receipt.SENDER), []),
    ("retry receipt", ev.ReceiptEv(MessageIDs=["M1"], Type=proto.Receipt.RETRY), []),
    ("presence is not mapped", ev.PresenceEv(), []),
    ("keepalive timeout is not mapped", ev.KeepAliveTimeoutEv(), []),
]


@pytest.mark.parametrize(
    ("neonize_event", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_mapping_table(neonize_event: Any, expected: list[tuple[str, dict[str, Any]]]) -> None:
    assert summary(map_neonize_event(neonize_event)) == expected


def test_events_survive_neonize_wire_round_trip() -> None:
    """What Go hands Python is bytes parsed with `FromString`: map that, not just constructors."""
    empty = proto.JID(User="", Server="", RawAgent=0, Device=0, Integrator=0, IsEmpty=True)
    source = proto.MessageSource(
        Chat=ALICE,
        Sender=ALICE,
        IsFromMe=False,
        IsGroup=False,
        SenderAlt=empty,
        RecipientAlt=empty,
        BroadcastListOwner=empty,
    )
    receipt = ev.ReceiptEv(
        MessageSource=source, MessageIDs=["M9"], Timestamp=T0, Type=proto.Receipt.READ
    )
    parsed = proto.Receipt.FromString(receipt.SerializeToString())

    assert summary(map_neonize_event(parsed)) == [
        ("message_ack", {"message_id": "M9", "status": "read"})
    ]


def test_qr_callback_bytes() -> None:
    assert summary(map_qr(b"2@ref,key,id,adv", expires_in_s=60)) == [
        ("qr_code", {"payload": "2@ref,key,id,adv", "expires_in_s": 60.0})
    ]
    assert map_qr(b"  ", expires_in_s=60) == []


def test_timestamps_in_seconds_or_milliseconds() -> None:
    expected = datetime.fromtimestamp(T0, UTC)
    assert whatsapp_timestamp(T0) == expected
    assert whatsapp_timestamp(T0 * 1000) == expected
