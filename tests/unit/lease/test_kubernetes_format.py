"""MicroTime formatting for the Lease spec (the API server parses a fixed 6-digit layout)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from session_runner.session.lease.kubernetes import format_micro_time


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC), "2024-05-01T12:00:00.000000Z"),
        (datetime(2024, 5, 1, 12, 0, 0, 123, tzinfo=UTC), "2024-05-01T12:00:00.000123Z"),
        (
            datetime(2024, 5, 1, 14, 30, 0, 500000, tzinfo=timezone(timedelta(hours=2))),
            "2024-05-01T12:30:00.500000Z",
        ),
        (None, None),
    ],
)
def test_format_micro_time(value: datetime | None, text: str | None) -> None:
    assert format_micro_time(value) == text


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_micro_time(datetime(2024, 5, 1))
