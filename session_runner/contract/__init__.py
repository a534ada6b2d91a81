"""The contract between the operator and the session runner, in one place.

Everything both sides must agree on, and nothing else: the phases the runner
reports, the shape of its report, the annotations people (or the CLI) set,
the settings the operator renders into the pod, and where an account's
snapshots live. The dependency points one way: the operator imports this
package; nothing here (or anywhere in session_runner) imports the operator,
and nothing here imports the rest of session_runner: the contract is the
bottom layer.
"""

from __future__ import annotations

from session_runner.contract.annotations import (
    FENCED_ANNOTATION,
    SKIP_SNAPSHOT_DELETION_ANNOTATION,
    SNAPSHOT_REQUEST_ANNOTATION,
    VERIFY_REQUEST_ANNOTATION,
    is_fenced,
    is_new_request,
    skips_snapshot_deletion,
)
from session_runner.contract.layout import account_prefix
from session_runner.contract.phases import RunnerPhase
from session_runner.contract.report import REPORT_KEYS, RunnerReportBody
from session_runner.contract.settings import ENV_PREFIX, Engine, LeaseBackend, RunnerSettings

__all__ = [
    "ENV_PREFIX",
    "FENCED_ANNOTATION",
    "REPORT_KEYS",
    "SKIP_SNAPSHOT_DELETION_ANNOTATION",
    "SNAPSHOT_REQUEST_ANNOTATION",
    "VERIFY_REQUEST_ANNOTATION",
    "Engine",
    "LeaseBackend",
    "RunnerPhase",
    "RunnerReportBody",
    "RunnerSettings",
    "account_prefix",
    "is_fenced",
    "is_new_request",
    "skips_snapshot_deletion",
]
