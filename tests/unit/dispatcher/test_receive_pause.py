"""The queue loops' pause between receives (`worker.receive_pause`)."""

from __future__ import annotations

import pytest

from session_runner.dispatcher.worker import receive_pause


@pytest.mark.parametrize(
    ("received", "asked", "pause_s", "expected"),
    [
        (10, 10, 1.0, 0.0),  # a full batch: more may be waiting, receive again at once
        (4, 4, 1.0, 0.0),  # full for what the loop had room for
        (9, 10, 1.0, 1.0),  # short: let what comes due meanwhile gather
        (1, 10, 1.0, 1.0),
        (0, 10, 1.0, 1.0),  # the long poll ran out empty
        (1, 10, 0.0, 0.0),  # the events queue: never pauses
        (0, 10, 0.0, 0.0),
    ],
)
def test_pauses_only_after_a_short_receive(
    received: int, asked: int, pause_s: float, expected: float
) -> None:
    assert receive_pause(received, asked, pause_s) == expected
