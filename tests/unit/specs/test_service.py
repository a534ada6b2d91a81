"""The headless Service."""

from __future__ import annotations

import pytest

from wafleet_operator.specs.labels import selector_labels
from wafleet_operator.specs.service import build_service

from .cases import CASE_IDS, CASES
from .golden import check_golden


@pytest.mark.parametrize("case", CASE_IDS)
def test_golden(case: str) -> None:
    c = CASES[case]
    check_golden(case, build_service(c.account))


def test_headless_and_resolvable_while_not_ready() -> None:
    c = CASES["browser-snapshots"]
    spec = build_service(c.account)["spec"]
    assert spec["clusterIP"] == "None"
    assert spec["publishNotReadyAddresses"] is True
    assert spec["selector"] == selector_labels(c.name)
    assert [(p["name"], p["port"], p["targetPort"]) for p in spec["ports"]] == [
        ("health", 8081, "health"),
        ("metrics", 9090, "metrics"),
    ]
