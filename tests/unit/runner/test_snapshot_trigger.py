"""Which engine events make the runner snapshot ahead of its interval."""

from __future__ import annotations

import pytest

from session_runner.engines.events import (
    Connected,
    Disconnected,
    EngineEvent,
    LoggedIn,
    LoggedOut,
    QrCode,
)
from session_runner.runner.session import snapshot_after_event

JID = "15550100000@s.whatsapp.net"


@pytest.mark.parametrize(
    ("event", "awaiting_login", "restored", "expected"),
    [
        # A person just scanned the QR: back it up now, not in five minutes.
        (LoggedIn(jid=JID), True, False, True),
        # ... even when an older snapshot had been restored (it was logged out since).
        (LoggedIn(jid=JID), True, True, True),
        # Nothing was restored, so whatever logged in is not in the store yet.
        (LoggedIn(jid=JID), False, False, True),
        # A restored session WhatsApp accepted is what the store already holds.
        (LoggedIn(jid=JID), False, True, False),
        # Nothing else is new login state.
        (Connected(), True, False, False),
        (QrCode(payload="2@abc", expires_in_s=20), True, False, False),
        (Disconnected(reason="network"), False, False, False),
        (LoggedOut(reason="unlinked"), False, True, False),
    ],
)
def test_only_a_new_login_triggers_a_snapshot(
    event: EngineEvent, awaiting_login: bool, restored: bool, expected: bool
) -> None:
    assert snapshot_after_event(event, awaiting_login=awaiting_login, restored=restored) is expected
