"""Pure: what the operator says about an account, from what it observed.

The runner reports facts under `status.runner` (its phase, the lease holder,
its fencing token, the login QR, the last snapshot). The operator owns
`status.phase` and the conditions. This module turns the spec, the problems
found in it, the StatefulSet's state and the runner's report into that status,
with no I/O, so every rule has a row in a table test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from session_runner.contract import RunnerPhase
from session_runner.session.lease.kubernetes import record_from_lease
from session_runner.session.lease.record import HolderState, holder_state
from wafleet_operator.api.whatsapp_account import AccountPhase
from wafleet_operator.conditions import condition

PHASES = tuple(phase.value for phase in AccountPhase)
#: What the runner reports about itself (RunnerPhase) → the account's phase.
#: Waiting for the Lease (Standby) or starting up is still Pending for a user.
#: Keyed by the contract's enum, so every phase a runner can report has a row
#: (tests/unit/test_status.py checks that none is missing).
RUNNER_TO_ACCOUNT_PHASE: dict[RunnerPhase, AccountPhase] = {
    RunnerPhase.STARTING: AccountPhase.PENDING,
    RunnerPhase.STANDBY: AccountPhase.PENDING,
    RunnerPhase.RESTORING: AccountPhase.RESTORING,
    RunnerPhase.AWAITING_LOGIN: AccountPhase.AWAITING_LOGIN,
    RunnerPhase.CONNECTED: AccountPhase.CONNECTED,
    RunnerPhase.DISCONNECTED: AccountPhase.DISCONNECTED,
    RunnerPhase.FENCED: AccountPhase.FENCED,
    RunnerPhase.STOPPED: AccountPhase.PENDING,
    RunnerPhase.FAILED: AccountPhase.FAILED,
}
CONDITION_TYPES = ("Ready", "LeaseHeld", "LoggedIn", "SnapshotHealthy")


@dataclass(frozen=True)
class Problem:
    """Something wrong with a spec that the schema could not reject; names the field."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class Observed:
    """Everything the status depends on, gathered by the handler."""

    generation: int
    suspended: bool = False
    fenced: bool = False
    snapshots_configured: bool = False
    problems: tuple[Problem, ...] = ()
    statefulset_exists: bool = False
    ready_replicas: int = 0
    runner: dict[str, Any] | None = None
    accepted_token: int | None = None
    previous_conditions: tuple[dict[str, Any], ...] = ()
    #: No runner holds the Lease (no holder, or its renewals stopped a lease duration ago).
    lease_free: bool = False
    #: spec.restoreFrom and the request recorded for it in status (restore_request.py).
    restore_from: str | None = None
    restore_request: dict[str, Any] | None = None


@dataclass(frozen=True)
class Verdict:
    """The account's status as the operator writes it."""

    phase: str
    conditions: list[dict[str, Any]]
    observed_generation: int
    lease_holder: str | None = None
    fencing_token: int | None = None
    login_qr: str | None = None
    last_snapshot: dict[str, Any] | None = None
    runner_ignored: bool = False
    restore_request: dict[str, Any] | None = None

    def as_status_patch(self) -> dict[str, Any]:
        """A merge patch for `.status`; None values delete stale fields."""
        return {
            "phase": self.phase,
            "conditions": self.conditions,
            "observedGeneration": self.observed_generation,
            "leaseHolder": self.lease_holder,
            "fencingToken": self.fencing_token,
            "loginQr": self.login_qr,
            "lastSnapshot": self.last_snapshot,
            "restoreRequest": self.restore_request,
        }


def account_phase(runner_phase: object) -> str | None:
    """The account phase for a reported runner phase; None for one no runner reports."""
    try:
        return RUNNER_TO_ACCOUNT_PHASE[RunnerPhase(str(runner_phase))].value
    except ValueError:
        return None


def runner_report_is_current(
    report: dict[str, Any] | None, accepted_token: int | None, *, lease_free: bool = False
) -> bool:
    """A report counts only if its fencing token is not lower than the highest accepted one.

    A runner paused past its lease may wake up and report; its token is older
    than the one its successor reported, so its word no longer counts.

    One report without a token counts too: a runner's Failed report while no
    runner holds the Lease (a settings error found before it could compete, a
    store it cannot read to prove its token). Nobody leads, so nobody's word
    is overruled, and without it the account would say "waiting for the
    runner's first report" while the runner says exactly what is wrong.
    """
    if report is None:
        return False
    token = report.get("fencingToken")
    if not isinstance(token, int) or isinstance(token, bool):
        return lease_free and report.get("phase") == RunnerPhase.FAILED
    return accepted_token is None or token >= accepted_token


def lease_is_free(lease: Mapping[str, Any] | None, now: datetime) -> bool:
    """No runner holds the account's Lease: none exists, no holder, or it expired.

    The runner's own rule (`holder_state`) on the operator's clock; a status
    display may be off by the clocks' skew, never the fencing (the runners and
    storage decide that, not this). A Lease whose times cannot be read is not
    free: the cautious reading for a status that would show Failed.
    """
    if lease is None:
        return True
    try:
        record = record_from_lease(lease)
    except (TypeError, ValueError):
        return False
    return holder_state(record, now) in (HolderState.NONE, HolderState.EXPIRED)


def next_restore_request(
    restore_from: str | None,
    generation: int,
    recorded: Mapping[str, Any] | None,
    restored_from: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """`status.restoreRequest`: spec.restoreFrom as a request that is consumed once.

    A new value (or the first one) is a new request, identified by the
    generation that set it; it is consumed when a runner reports restoring
    that snapshot for it (the runner's side: session_runner/session/restore_request.py).
    A report without a generation (the pod started before the request was
    recorded) matches on the snapshot id. Removing spec.restoreFrom forgets it.
    """
    if restore_from is None:
        return None
    if not recorded or recorded.get("snapshotId") != restore_from:
        return {"snapshotId": restore_from, "generation": generation, "consumed": False}
    request = dict(recorded)
    if request.get("consumed") is True or not restored_from:
        return request
    answered = restored_from.get("generation")
    if restored_from.get("snapshotId") == restore_from and answered in (
        None,
        request.get("generation"),
    ):
        request["consumed"] = True
    return request


def snapshot_corrupt(
    last_verify: Mapping[str, Any] | None, last_snapshot: Mapping[str, Any] | None
) -> str | None:
    """The SnapshotCorrupt message when the latest snapshot failed its last verification, else None.

    Only a verification that checked a snapshot counts (`snapshotId` set: an
    unreachable store or an empty one is not damage), and only while that
    snapshot is still the latest: a newer one (snapshot ids sort by time)
    re-uploads every chunk marked suspect, and is what a restore would use.
    A later verification that passes replaces this one, so it stops counting.
    """
    if not last_verify or last_verify.get("ok") is not False:
        return None
    verified = last_verify.get("snapshotId")
    if not verified:
        return None
    latest = (last_snapshot or {}).get("id")
    if latest and str(latest) > str(verified):
        return None
    corrupt = int(last_verify.get("corruptChunks") or 0)
    missing = int(last_verify.get("missingChunks") or 0)
    detail = last_verify.get("message")
    return (
        f"snapshot {verified} failed verification: {corrupt} corrupt, {missing} missing chunk(s)"
        + (f" ({detail})" if detail else "")
    )[:1000]


def decide_status(observed: Observed, now: datetime) -> Verdict:
    """Phase and conditions from the observed facts (the table in tests/unit/test_status.py)."""
    gen, prev = observed.generation, observed.previous_conditions
    current = runner_report_is_current(
        observed.runner, observed.accepted_token, lease_free=observed.lease_free
    )
    report = observed.runner if current else None
    restore_request = next_restore_request(
        observed.restore_from,
        gen,
        observed.restore_request,
        report.get("restoredFrom") if report else None,
    )
    runner_phase = account_phase(report.get("phase")) if report else None

    def cond(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
        return condition(kind, status, reason, message, gen, now, prev)

    if observed.problems:
        first = observed.problems[0]
        message = "; ".join(str(p) for p in observed.problems)
        return Verdict(
            phase="Failed",
            observed_generation=gen,
            conditions=[
                cond("Ready", "False", "InvalidSpec", message),
                cond("LeaseHeld", "Unknown", "InvalidSpec", f"not started: {first}"),
                cond("LoggedIn", "Unknown", "InvalidSpec", f"not started: {first}"),
                cond("SnapshotHealthy", "Unknown", "InvalidSpec", f"not started: {first}"),
            ],
            fencing_token=observed.accepted_token,
            restore_request=observed.restore_request,
        )

    holder = str(report["holder"]) if report and report.get("holder") else None
    reported_token = report.get("fencingToken") if report else None
    token = reported_token if isinstance(reported_token, int) else observed.accepted_token
    last_snapshot = report.get("lastSnapshot") if report else None

    if observed.fenced:
        phase, ready_reason, ready_msg = (
            "Fenced",
            "Fenced",
            "the wafleet.io/fenced annotation stops the session; the pod is kept",
        )
    elif observed.suspended:
        phase, ready_reason, ready_msg = (
            "Suspended",
            "Suspended",
            "spec.suspended is true: scaled to zero",
        )
    elif not observed.statefulset_exists:
        phase, ready_reason, ready_msg = "Pending", "Creating", "the StatefulSet is being created"
    elif runner_phase is None:
        phase, ready_reason, ready_msg = (
            "Pending",
            "RunnerNotReporting",
            "waiting for the runner's first report",
        )
    else:
        phase = runner_phase
        ready_reason = {"Connected": "Connected"}.get(phase, phase)
        ready_msg = str(report.get("message") or f"runner reports {phase}") if report else ""

    ready = phase == "Connected" and observed.ready_replicas >= 1
    if phase == "Connected" and not ready:
        ready_reason, ready_msg = "PodNotReady", "the runner is connected but its pod is not ready"

    running = phase not in ("Suspended", "Pending") and not (observed.fenced and holder is None)
    if holder and running and phase not in ("Fenced", "Failed"):
        lease = cond(
            "LeaseHeld", "True", "Acquired", f"held by {holder} with fencing token {token}"
        )
    elif phase == "Fenced":
        lease = cond("LeaseHeld", "False", "Fenced", ready_msg)
    else:
        lease = cond("LeaseHeld", "False", "NotHeld", "no runner holds the lease")

    if phase in ("Connected", "Disconnected"):
        logged_in = cond("LoggedIn", "True", "SessionValid", "the session is logged in")
    elif phase == "AwaitingLogin":
        logged_in = cond(
            "LoggedIn", "False", "AwaitingLogin", "scan the QR code: wafleet qr ACCOUNT"
        )
    else:
        logged_in = cond("LoggedIn", "Unknown", phase, "the session is not running")

    snapshot_error = report.get("snapshotError") if report else None
    if not observed.snapshots_configured:
        snapshot = cond("SnapshotHealthy", "Unknown", "NotConfigured", "spec.snapshot is not set")
    elif snapshot_error:
        snapshot = cond("SnapshotHealthy", "False", "SnapshotFailed", str(snapshot_error))
    elif corrupt := snapshot_corrupt(
        report.get("lastVerify") if report else None,
        last_snapshot if isinstance(last_snapshot, dict) else None,
    ):
        snapshot = cond("SnapshotHealthy", "False", "SnapshotCorrupt", corrupt)
    elif last_snapshot:
        snapshot = cond(
            "SnapshotHealthy", "True", "SnapshotTaken", f"last snapshot {last_snapshot.get('id')}"
        )
    else:
        snapshot = cond("SnapshotHealthy", "Unknown", "NoSnapshotYet", "no snapshot taken yet")

    return Verdict(
        phase=phase,
        observed_generation=gen,
        conditions=[
            cond("Ready", "True" if ready else "False", ready_reason, ready_msg),
            lease,
            logged_in,
            snapshot,
        ],
        lease_holder=holder if running else None,
        fencing_token=token,
        login_qr=str(report["loginQr"])
        if report and phase == "AwaitingLogin" and report.get("loginQr")
        else None,
        last_snapshot=last_snapshot if isinstance(last_snapshot, dict) else None,
        runner_ignored=observed.runner is not None and not current,
        restore_request=restore_request,
    )


@dataclass(frozen=True)
class EventSpec:
    """One Kubernetes Event to post: `type` is Normal or Warning."""

    type: str
    reason: str
    message: str


def snapshot_event(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> EventSpec | None:
    """The event a SnapshotHealthy transition deserves, if any.

    A failure (or a restore that fell back to an older snapshot) is a Warning
    the first time it is seen and again whenever its message changes — each
    says something new; the same failure repeated on every interval is not
    news. Recovery gets one Normal event. Unknown (not configured, none yet)
    says nothing.
    """
    old_status = (old or {}).get("status")
    if new["status"] == "False":
        if old_status != "False" or (old or {}).get("message") != new["message"]:
            return EventSpec("Warning", new["reason"], str(new["message"]))
        return None
    if new["status"] == "True" and old_status == "False":
        return EventSpec("Normal", "SnapshotHealthy", f"snapshots work again: {new['message']}")
    return None


def restore_consumed_event(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> EventSpec | None:
    """One Normal event when a spec.restoreFrom request is done (kubectl describe shows it)."""
    if not new or new.get("consumed") is not True or (old or {}).get("consumed") is True:
        return None
    return EventSpec(
        "Normal",
        "RestoreFromConsumed",
        f"restored snapshot {new.get('snapshotId')} as spec.restoreFrom asked; later starts "
        "restore the latest snapshot (spec.restoreFrom may be removed)",
    )
