"""The runner's probes and the shape of its status report."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from session_runner import health
from session_runner.session.report import RunnerFacts, build_report
from tests.harness.devserver import free_port


@pytest.mark.parametrize(
    ("alive", "ready", "healthz", "readyz"),
    [(True, True, 200, 200), (True, False, 200, 503), (False, False, 500, 503)],
)
async def test_probes_follow_the_runner(
    alive: bool, ready: bool, healthz: int, readyz: int
) -> None:
    port = free_port()
    site = await health.serve(
        health.build_app(lambda: alive, lambda: ready), port, host="127.0.0.1"
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/healthz")).status_code == healthz
            assert (await http.get("/readyz")).status_code == readyz
    finally:
        await site.cleanup()


def test_report_is_camel_case_with_token_and_clears_absent_fields() -> None:
    facts = RunnerFacts(
        phase="AwaitingLogin",
        holder="waa-demo-0",
        fencing_token=7,
        login_qr="2@abc",
        message="scan",
    )
    report = build_report(facts, datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    assert report == {
        "phase": "AwaitingLogin",
        "holder": "waa-demo-0",
        "fencingToken": 7,
        "loginQr": "2@abc",
        "message": "scan",
        "lastSnapshot": None,
        "snapshotError": None,
        "lastVerify": None,
        "restoredFrom": None,
        "reportedAt": "2026-11-23T12:00:00Z",
    }


@pytest.mark.parametrize(
    "phase",
    ["Standby", "Restoring", "AwaitingLogin", "Connected", "Disconnected", "Fenced", "Stopped"],
)
def test_every_phase_the_runner_reports_fits_the_crd(phase: str) -> None:
    """The report is validated by the CRD's status.runner schema (the models are its source)."""
    from wafleet_operator.api import RunnerReport

    report = build_report(
        RunnerFacts(phase=phase, holder="waa-demo-0", fencing_token=1), datetime.now(UTC)
    )
    RunnerReport.model_validate({k: v for k, v in report.items() if v is not None})
