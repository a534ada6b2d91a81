"""The operator↔runner contract: one set of phases and report keys, depended on one way.

The runner writes `status.runner`; the operator's CRD model parses it, and the
API server prunes any key the schema does not know. These tests tie the three
together: the keys the contract names, the keys `build_report` writes, the
fields the operator's `RunnerReport` accepts.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import session_runner
from session_runner.contract import REPORT_KEYS, RunnerPhase
from session_runner.session.lease.fencing import FencedOutError
from session_runner.session.report import RunnerFacts, build_report
from session_runner.session.restore_request import restored_from_report
from session_runner.session.snapshot.snapshotter import SnapshotResult
from session_runner.session.snapshot.verify import VerifyOutcome, last_verify_status
from session_runner.session.snapshots import SnapshotSchedule
from wafleet_operator.api import RunnerPhase as ApiRunnerPhase
from wafleet_operator.api import RunnerReport

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def test_the_operator_uses_the_contracts_phases() -> None:
    assert ApiRunnerPhase is RunnerPhase


def test_build_report_writes_exactly_the_contracts_keys() -> None:
    facts = RunnerFacts(phase=RunnerPhase.CONNECTED, holder="waa-demo-0", fencing_token=3)
    assert set(build_report(facts, NOW)) == REPORT_KEYS


def test_the_operators_report_model_accepts_exactly_the_contracts_keys() -> None:
    aliases = {field.alias or name for name, field in RunnerReport.model_fields.items()}
    assert aliases == REPORT_KEYS


async def _no_report() -> None:
    """The schedule's report callback; nothing to report in this test."""


def _ignore_refusal(token: int, error: FencedOutError) -> None:
    """The schedule's refusal callback; no snapshot is refused in this test."""


@pytest.mark.parametrize("phase", list(RunnerPhase))
def test_every_report_the_runner_builds_parses_as_the_operators_model(
    phase: RunnerPhase, tmp_path: Path
) -> None:
    # Every optional part filled in by the code that fills it in the runner.
    snapshots = SnapshotSchedule(tmp_path, 300, on_fenced_out=_ignore_refusal, after=_no_report)
    snapshots.record(SnapshotResult("20261123T120000Z-3", 1024, 1.5, 3, 2, 1, 4096))
    outcome = VerifyOutcome("20261123T120000Z-3", chunks=3, corrupt=("c1",))
    facts = RunnerFacts(
        phase=phase,
        holder="waa-demo-0",
        fencing_token=3,
        login_qr="2@abc",
        message="hello",
        last_snapshot=snapshots.last,
        snapshot_error="snapshot failed: OSError: disk",
        last_verify=last_verify_status("t1", outcome, NOW),
        restored_from=restored_from_report("20261123T120000Z-3", None),
    )
    body = build_report(facts, NOW)
    parsed = RunnerReport.model_validate(body)
    assert parsed.phase is phase
    # Nothing is lost on the way: the model holds what the API server stores of the
    # merge patch (nulls delete, at every level).
    assert parsed.model_dump(mode="json", by_alias=True, exclude_none=True) == _stored(body)


def _stored(value: Any) -> Any:
    """A merge patch as the API server stores it: null members removed, recursively."""
    if isinstance(value, Mapping):
        return {k: _stored(v) for k, v in value.items() if v is not None}
    return value


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_runner_never_imports_the_operator() -> None:
    root = Path(session_runner.__file__).parent
    offenders = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if any(name.split(".")[0] == "wafleet_operator" for name in _imports(path))
    )
    assert offenders == []


def test_the_contract_is_the_bottom_layer() -> None:
    """The operator imports the contract; the contract must not drag the session in with it."""
    root = Path(session_runner.__file__).parent / "contract"
    offenders = sorted(
        f"{path.name}: {name}"
        for path in root.rglob("*.py")
        for name in _imports(path)
        if name.startswith("session_runner.") and not name.startswith("session_runner.contract")
    )
    assert offenders == []
