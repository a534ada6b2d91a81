"""`send_refusal`: which pools `wafleet send` publishes to."""

from __future__ import annotations

from typing import Any

import pytest

from session_runner.cli.send import send_refusal


def status(reason: str | None, queue: bool = True) -> dict[str, Any]:
    conditions = [] if reason is None else [{"type": "Ready", "reason": reason, "message": reason}]
    return {"conditions": conditions, "queueUrl": "http://sqs/q" if queue else None}


@pytest.mark.parametrize(
    ("case", "pool_status", "refused"),
    [
        ("idle", status("Idle"), False),
        ("sending", status("Sending"), False),
        ("senders starting: the message waits in the queue", status("SendersStarting"), False),
        ("bad spec", status("InvalidSpec", queue=False), True),
        ("queues unavailable", status("QueueUnavailable"), True),
        ("no status yet", {}, True),
        ("no queue yet", status(None, queue=False), True),
    ],
)
def test_send_refusal(case: str, pool_status: dict[str, Any], refused: bool) -> None:
    assert (send_refusal(pool_status) is not None) is refused, case
