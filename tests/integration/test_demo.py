"""`make demo`'s local path (`python -m scripts.demo_local`), run as make runs it."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from scripts.demo_webhooks import STATUSES, missing, tampered
from session_runner.events.event import Event, EventType, Source
from tests.harness.control_plane import find_assets

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_fails_over_and_runs_the_account_on_the_real_control_plane() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.demo_local"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=480,
        env={**os.environ, "COLUMNS": "400"},
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "snapshotted its new login at once" in out
    assert "fencing token 0 -> 1, session restored from the snapshot" in out
    assert "Stopped" in out
    if isinstance(find_assets(), str) and os.environ.get("CI") != "true":
        assert "The operator on Kubernetes: skipped" in out
        return
    # The operator part, on the real control plane: the runner of pod waa-demo-0 makes the account Ready and Connected.
    assert "whatsappaccount.wafleet.io/demo condition met" in out
    assert re.search(r"demo\s+\+15550100001\s+local\s+Connected\s+True\s+waa-demo-0\b", out)
    # Verify on demand: whole, then a flipped byte found, then repaired by the next snapshot.
    verdicts = re.findall(r"default/demo: (OK|DAMAGED):.*?\(exit (\d)\)", out, re.DOTALL)
    assert verdicts == [("OK", "0"), ("DAMAGED", "1"), ("OK", "0")]
    assert "SnapshotHealthy reason: SnapshotCorrupt" in out
    # Outbound: through the account's own session (to read), and through Twilio's stand-in.
    assert re.search(r"demo-order-1: sent \(vendor id 3EB0\w+\), read", out)
    assert re.search(r"ledger demo-order-1: SENT by waa-demo-0-t\d+-\w+, .*fencing token", out)
    assert re.search(r"otp-4711: sent \(vendor id SM\w+\)", out)
    assert "the Twilio stand-in received otp-4711 1 time(s)" in out
    assert "Twilio's signed status callback reached the ingest: the ledger says sent" in out
    assert re.search(r"message\.read\s+session\s+message demo-order-1", out)
    assert re.search(r"message\.sent\s+twilio\s+message otp-4711", out)
    # A deleted pod is replaced by the StatefulSet controller and restores the session.
    assert "restored the session from the snapshot: fencing token 2 -> 3, no new QR scan" in out
    assert "phase: Suspended, StatefulSet replicas: 0" in out
    # Webhooks: the statuses and a reply reach the subscriber, each verified with the
    # reference library; a forged body is refused; the dead subscriber is tombstoned.
    verified = r"webhook-id evt_[0-9a-f]{32}\s+signature verified with standardwebhooks"
    for kind in ("sent", "delivered", "read"):
        assert re.search(rf"message\.{kind}\s+session\s+demo-order-1\s+{verified}", out)
    assert re.search(rf"message\.sent\s+twilio\s+otp-4711\s+{verified}", out)
    assert re.search(rf"message\.inbound\s+twilio\s+from \+14155550123: .*{verified}", out)
    assert "did not verify" not in out
    assert "one byte of its body changed: rejected by standardwebhooks" in out
    assert re.search(r"crm\s+http://127\.0\.0\.1:\d+/hooks\s+Active\b", out)
    assert re.search(r"gone\s+http://127\.0\.0\.1:\d+/hooks\s+Tombstoned\s+\d+", out)
    assert "Tombstoned=True TooManyFailures: " in out
    assert re.search(r"Warning\s+Tombstoned\s+webhooksubscription/gone\s+deliveries stopped", out)
    assert "demo finished" in out


def _event(kind: EventType, message_id: str | None, vendor_id: str = "3EB0AA") -> Event:
    owner = {"account": "demo"} if message_id != "otp-4711" else {"pool": "otp-twilio"}
    return Event.create(
        type=kind,
        source=Source.SESSION if "account" in owner else Source.TWILIO,
        vendor_message_id=vendor_id,
        at=datetime(2026, 12, 6, tzinfo=UTC),
        namespace="default",
        message_id=message_id,
        **owner,
    )


SENT, DELIVERED, READ, INBOUND = (
    EventType.SENT,
    EventType.DELIVERED,
    EventType.READ,
    EventType.INBOUND,
)
WANTED = [*STATUSES, ("message.inbound", "SMreply")]


@pytest.mark.parametrize(
    ("got", "lost"),
    [
        pytest.param(
            [
                _event(SENT, "demo-order-1"),
                _event(DELIVERED, "demo-order-1"),
                _event(READ, "demo-order-1"),
                _event(SENT, "otp-4711", "SMotp"),
                _event(INBOUND, None, "SMreply"),
            ],
            [],
            id="everything",
        ),
        pytest.param(
            [
                _event(SENT, "demo-order-1"),
                _event(SENT, "demo-order-1"),  # at least once: a repeat counts once
                _event(DELIVERED, "demo-order-1"),
                _event(READ, "demo-order-1"),
                _event(SENT, "otp-4711", "SMotp"),
                _event(SENT, "other-9"),  # not asked for: no matter
                _event(INBOUND, None, "SMreply"),
            ],
            [],
            id="repeats-and-extras",
        ),
        pytest.param(
            [_event(SENT, "demo-order-1"), _event(DELIVERED, "demo-order-1")],
            [
                ("message.read", "demo-order-1"),
                ("message.sent", "otp-4711"),
                ("message.inbound", "SMreply"),
            ],
            id="in-the-order-wanted",
        ),
        pytest.param(
            [
                _event(SENT, "demo-order-1"),
                _event(DELIVERED, "demo-order-1"),
                _event(READ, "demo-order-1"),
                _event(READ, "otp-4711", "SMotp"),  # another status of that message
                _event(INBOUND, None, "SMother"),  # another reply
            ],
            [("message.sent", "otp-4711"), ("message.inbound", "SMreply")],
            id="same-type-other-message",
        ),
        pytest.param([], WANTED, id="nothing"),
    ],
)
def test_missing_names_the_wanted_events_not_delivered(
    got: list[Event], lost: list[tuple[str, str]]
) -> None:
    assert missing(WANTED, got) == lost


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_event(READ, "demo-order-1").to_json().encode(), id="an-event"),
        pytest.param(b'{"hello":"world"}', id="no-type-field"),
        pytest.param(b"", id="empty"),
    ],
)
def test_a_tampered_body_no_longer_verifies(body: bytes) -> None:
    secret = "whsec_" + base64.b64encode(b"demo-test-signing-key-32-bytes!!").decode()
    webhook = Webhook(secret)
    moment = datetime.now(UTC)
    headers = {
        "webhook-id": "evt_" + "0" * 32,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": webhook.sign("evt_" + "0" * 32, moment, body),
    }
    webhook.verify(body, headers, json_parse=False)
    assert tampered(body) != body
    with pytest.raises(WebhookVerificationError):
        webhook.verify(tampered(body), headers, json_parse=False)
