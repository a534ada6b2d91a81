"""LeaseTimings validation and holder identities."""

from __future__ import annotations

import pytest

from session_runner.session.lease.record import LeaseTimings, holder_pod, unique_identity


def test_client_go_defaults() -> None:
    assert LeaseTimings() == LeaseTimings(duration=15.0, renew_deadline=10.0, retry_period=2.0)


@pytest.mark.parametrize(
    ("duration", "renew_deadline", "retry_period", "field"),
    [
        (10.0, 10.0, 2.0, "duration"),  # duration must exceed the renew deadline
        (9.0, 10.0, 2.0, "duration"),
        (15.0, 2.4, 2.0, "renew_deadline"),  # 2.4 == 1.2 x 2.0: not strictly greater
        (15.0, 2.0, 2.0, "renew_deadline"),
        (0.0, 10.0, 2.0, "duration"),
        (15.0, -1.0, 2.0, "renew_deadline"),
        (15.0, 10.0, 0.0, "retry_period"),
    ],
)
def test_unsafe_timings_are_refused_naming_the_field(
    duration: float, renew_deadline: float, retry_period: float, field: str
) -> None:
    with pytest.raises(ValueError, match=rf"lease timing {field}\b"):
        LeaseTimings(duration, renew_deadline, retry_period)


def test_the_tightest_safe_timings_pass() -> None:
    LeaseTimings(duration=1.5, renew_deadline=1.0, retry_period=0.2)
    LeaseTimings(duration=10.01, renew_deadline=10.0, retry_period=8.3)


def test_unique_identity_keeps_the_pod_name_recoverable() -> None:
    a, b = unique_identity("waa-alice-0"), unique_identity("waa-alice-0")
    assert a != b
    assert holder_pod(a) == holder_pod(b) == "waa-alice-0"
    assert holder_pod("plain-name") == "plain-name"
    assert holder_pod("my_pod") == "my_pod"
    assert holder_pod(None) is None
