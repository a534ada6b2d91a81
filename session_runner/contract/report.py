"""The shape of `status.runner`: the camelCase keys the runner writes.

The runner builds this object (`session_runner.session.report.build_report`)
and the operator parses it with its CRD model (`RunnerReport`, whose aliases
must be exactly these keys; tests/unit/session/test_contract.py ties the
three together). A key the runner adds without the schema knowing it would be
pruned by the API server, silently.
"""

from __future__ import annotations

from typing import Any, TypedDict

from session_runner.contract.phases import RunnerPhase


class RunnerReportBody(TypedDict):
    """One report as written (None clears a field in a merge patch)."""

    phase: RunnerPhase
    holder: str
    fencingToken: int | None
    loginQr: str | None
    message: str | None
    lastSnapshot: dict[str, Any] | None
    snapshotError: str | None
    lastVerify: dict[str, Any] | None
    restoredFrom: dict[str, Any] | None
    reportedAt: str


#: Every key of `status.runner`.
REPORT_KEYS: frozenset[str] = frozenset(RunnerReportBody.__annotations__)
