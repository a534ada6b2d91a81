"""`holder_state`: the one reading of a lease's timestamps, shared by runner and operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from session_runner.session.lease.kubernetes import record_from_lease
from session_runner.session.lease.record import HolderState, LeaseRecord, holder_state

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def lease(holder: str | None, renewed_ago: float | None, duration: float = 15.0) -> LeaseRecord:
    return LeaseRecord(
        holder=holder,
        lease_duration_s=duration,
        acquire_time=NOW - timedelta(hours=1),
        renew_time=None if renewed_ago is None else NOW - timedelta(seconds=renewed_ago),
        transitions=3,
        version="9",
    )


@pytest.mark.parametrize(
    ("case", "record", "state"),
    [
        ("no Lease at all", None, HolderState.NONE),
        ("released", lease(None, 1.0), HolderState.NONE),
        ("renewed a second ago", lease("waa-demo-0_x", 1.0), HolderState.LIVE),
        ("renewed just within its duration", lease("waa-demo-0_x", 14.9), HolderState.LIVE),
        ("a whole duration without renewal", lease("waa-demo-0_x", 15.0), HolderState.EXPIRED),
        ("an hour without renewal", lease("waa-demo-0_x", 3600.0), HolderState.EXPIRED),
        ("held, no renewal time", lease("waa-demo-0_x", None), HolderState.UNKNOWN),
        ("held, no duration", lease("waa-demo-0_x", 1.0, duration=0), HolderState.UNKNOWN),
    ],
)
def test_holder_state(case: str, record: LeaseRecord | None, state: HolderState) -> None:
    assert holder_state(record, NOW) is state, case


def test_a_lease_object_reads_as_its_record_with_or_without_metadata() -> None:
    obj = {
        "spec": {
            "holderIdentity": "waa-demo-0_x",
            "leaseDurationSeconds": 15,
            "renewTime": "2026-11-23T11:59:50.000000Z",
            "leaseTransitions": 4,
        }
    }
    record = record_from_lease(obj)
    assert (record.holder, record.lease_duration_s, record.transitions, record.version) == (
        "waa-demo-0_x",
        15.0,
        4,
        "",
    )
    assert holder_state(record, NOW) is HolderState.LIVE
    with pytest.raises(ValueError, match="yesterday"):
        record_from_lease({"spec": {"holderIdentity": "x", "renewTime": "yesterday"}})
