"""The Lease: the operator applies only what it owns."""

from __future__ import annotations

import pytest

from wafleet_operator.specs.lease import build_lease

from .cases import CASE_IDS, CASES
from .golden import check_golden


@pytest.mark.parametrize("case", CASE_IDS)
def test_golden(case: str) -> None:
    c = CASES[case]
    check_golden(case, build_lease(c.account, c.parsed))


@pytest.mark.parametrize("case", CASE_IDS)
def test_only_the_duration_is_applied(case: str) -> None:
    """Anything else in spec belongs to the runner; applying it would fight the holder."""
    c = CASES[case]
    lease = build_lease(c.account, c.parsed)
    assert lease["spec"] == {"leaseDurationSeconds": c.parsed.lease.duration_seconds}
    assert lease["metadata"]["name"] == f"waa-{c.name}"
