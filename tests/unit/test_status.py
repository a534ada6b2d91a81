"""Table test of the pure status decision: observed facts → phase and conditions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from session_runner.contract import RunnerPhase
from wafleet_operator.api import AccountPhase
from wafleet_operator.status import (
    RUNNER_TO_ACCOUNT_PHASE,
    Observed,
    Problem,
    decide_status,
    lease_is_free,
    next_restore_request,
    restore_consumed_event,
    runner_report_is_current,
    snapshot_corrupt,
    snapshot_event,
)
from wafleet_operator.status import (
    account_phase as account_phase_of,
)

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
EARLIER = "2026-11-23T11:00:00Z"


def report(phase: str, token: int = 3, **extra: Any) -> dict[str, Any]:
    return {"phase": phase, "holder": "demo-0", "fencingToken": token, **extra}


def conditions(verdict_conditions: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in verdict_conditions}


RUNNING = {"statefulset_exists": True, "ready_replicas": 1}

# (case, observed, phase, Ready, LeaseHeld, LoggedIn)
TABLE: list[tuple[str, Observed, str, str, str, str]] = [
    ("fresh account", Observed(generation=1), "Pending", "False", "False", "Unknown"),
    (
        "sts up, runner silent",
        Observed(generation=1, **RUNNING),
        "Pending",
        "False",
        "False",
        "Unknown",
    ),
    (
        "restoring",
        Observed(generation=1, runner=report("Restoring"), **RUNNING),
        "Restoring",
        "False",
        "True",
        "Unknown",
    ),
    (
        "awaiting login",
        Observed(generation=1, runner=report("AwaitingLogin", loginQr="2@abc"), **RUNNING),
        "AwaitingLogin",
        "False",
        "True",
        "False",
    ),
    (
        "connected",
        Observed(generation=2, runner=report("Connected"), **RUNNING),
        "Connected",
        "True",
        "True",
        "True",
    ),
    (
        "connected, pod not ready",
        Observed(
            generation=2, runner=report("Connected"), statefulset_exists=True, ready_replicas=0
        ),
        "Connected",
        "False",
        "True",
        "True",
    ),
    (
        "disconnected",
        Observed(generation=2, runner=report("Disconnected"), **RUNNING),
        "Disconnected",
        "False",
        "True",
        "True",
    ),
    (
        "suspended wins over runner",
        Observed(generation=3, suspended=True, runner=report("Connected"), **RUNNING),
        "Suspended",
        "False",
        "False",
        "Unknown",
    ),
    (
        "fenced annotation",
        Observed(generation=3, fenced=True, runner=report("Connected"), **RUNNING),
        "Fenced",
        "False",
        "False",
        "Unknown",
    ),
    (
        "runner fenced itself",
        Observed(generation=3, runner=report("Fenced"), **RUNNING),
        "Fenced",
        "False",
        "False",
        "Unknown",
    ),
    (
        "invalid spec",
        Observed(
            generation=4,
            problems=(Problem("spec.snapshot.encryptionKeySecret.name", "Secret k not found"),),
            runner=report("Connected"),
            **RUNNING,
        ),
        "Failed",
        "False",
        "Unknown",
        "Unknown",
    ),
    (
        "stale runner report ignored",
        Observed(generation=2, runner=report("Connected", token=2), accepted_token=5, **RUNNING),
        "Pending",
        "False",
        "False",
        "Unknown",
    ),
    (
        "unknown runner phase ignored",
        Observed(generation=2, runner=report("Dancing"), **RUNNING),
        "Pending",
        "False",
        "False",
        "Unknown",
    ),
]


@pytest.mark.parametrize(
    ("case", "observed", "phase", "ready", "lease", "logged_in"),
    TABLE,
    ids=[row[0] for row in TABLE],
)
def test_decide_status(
    case: str, observed: Observed, phase: str, ready: str, lease: str, logged_in: str
) -> None:
    verdict = decide_status(observed, NOW)
    got = conditions(verdict.conditions)
    assert (verdict.phase, got["Ready"][0], got["LeaseHeld"][0], got["LoggedIn"][0]) == (
        phase,
        ready,
        lease,
        logged_in,
    ), case
    assert verdict.observed_generation == observed.generation
    assert [c["type"] for c in verdict.conditions] == [
        "Ready",
        "LeaseHeld",
        "LoggedIn",
        "SnapshotHealthy",
    ]
    assert all(c["observedGeneration"] == observed.generation for c in verdict.conditions)


@pytest.mark.parametrize(
    ("runner_phase", "account_phase"),
    [
        (RunnerPhase.STARTING, "Pending"),
        (RunnerPhase.STANDBY, "Pending"),
        (RunnerPhase.RESTORING, "Restoring"),
        (RunnerPhase.AWAITING_LOGIN, "AwaitingLogin"),
        (RunnerPhase.CONNECTED, "Connected"),
        (RunnerPhase.DISCONNECTED, "Disconnected"),
        (RunnerPhase.FENCED, "Fenced"),
        (RunnerPhase.STOPPED, "Pending"),
        (RunnerPhase.FAILED, "Failed"),
        # Not a phase any runner reports (a hand edit): the runner is not reporting.
        ("Dancing", None),
        (None, None),
    ],
)
def test_account_phase_of_each_runner_phase(
    runner_phase: object, account_phase: str | None
) -> None:
    assert account_phase_of(runner_phase) == account_phase


def test_every_runner_phase_of_the_contract_maps_to_an_account_phase() -> None:
    assert set(RUNNER_TO_ACCOUNT_PHASE) == set(RunnerPhase)
    assert set(RUNNER_TO_ACCOUNT_PHASE.values()) <= set(AccountPhase)


def test_a_phase_no_runner_reports_reads_as_a_silent_runner() -> None:
    verdict = decide_status(Observed(generation=1, runner=report("Dancing"), **RUNNING), NOW)
    assert verdict.phase == "Pending"
    assert conditions(verdict.conditions)["Ready"] == ("False", "RunnerNotReporting")


def test_invalid_spec_names_the_field_in_ready_message() -> None:
    problem = Problem("spec.snapshot.bucket", "'My_Bucket' is not a valid S3 bucket name")
    verdict = decide_status(Observed(generation=1, problems=(problem,)), NOW)
    ready = verdict.conditions[0]
    assert ready["reason"] == "InvalidSpec"
    assert "spec.snapshot.bucket" in ready["message"]


def test_qr_only_while_awaiting_login() -> None:
    awaiting = decide_status(
        Observed(generation=1, runner=report("AwaitingLogin", loginQr="2@qr"), **RUNNING), NOW
    )
    connected = decide_status(
        Observed(generation=1, runner=report("Connected", loginQr="2@qr"), **RUNNING), NOW
    )
    assert awaiting.login_qr == "2@qr"
    assert connected.login_qr is None


def test_last_transition_time_kept_while_status_unchanged() -> None:
    previous = ({"type": "Ready", "status": "True", "lastTransitionTime": EARLIER},)
    same = decide_status(
        Observed(generation=1, runner=report("Connected"), previous_conditions=previous, **RUNNING),
        NOW,
    )
    flipped = decide_status(
        Observed(
            generation=1, runner=report("Disconnected"), previous_conditions=previous, **RUNNING
        ),
        NOW,
    )
    assert same.conditions[0]["lastTransitionTime"] == EARLIER
    assert flipped.conditions[0]["lastTransitionTime"] == "2026-11-23T12:00:00Z"


@pytest.mark.parametrize(
    ("token", "accepted", "current"),
    [(3, None, True), (3, 3, True), (4, 3, True), (2, 3, False), (None, None, False)],
)
def test_runner_report_token_rule(token: int | None, accepted: int | None, current: bool) -> None:
    assert runner_report_is_current({"fencingToken": token}, accepted) is current


def test_snapshot_health() -> None:
    configured = {"snapshots_configured": True, **RUNNING}
    failing = decide_status(
        Observed(
            generation=1, runner=report("Connected", snapshotError="AccessDenied"), **configured
        ),
        NOW,
    )
    healthy = decide_status(
        Observed(generation=1, runner=report("Connected", lastSnapshot={"id": "s1"}), **configured),
        NOW,
    )
    off = decide_status(Observed(generation=1, runner=report("Connected"), **RUNNING), NOW)
    assert conditions(failing.conditions)["SnapshotHealthy"] == ("False", "SnapshotFailed")
    assert conditions(healthy.conditions)["SnapshotHealthy"] == ("True", "SnapshotTaken")
    assert conditions(off.conditions)["SnapshotHealthy"] == ("Unknown", "NotConfigured")
    assert healthy.last_snapshot == {"id": "s1"}


@pytest.mark.parametrize(
    ("reported", "lease", "expected"),
    [
        (None, None, None),
        (3, None, 3),
        (None, {"spec": {"leaseTransitions": 4}}, 4),
        (3, {"spec": {"leaseTransitions": 4}}, 4),  # a takeover the new holder has not reported yet
        (5, {"spec": {"leaseTransitions": 4}}, 5),
        (3, {"spec": {}}, 3),
    ],
)
def test_highest_token(
    reported: int | None, lease: dict[str, Any] | None, expected: int | None
) -> None:
    from wafleet_operator.reconcile import highest_token

    assert highest_token(reported, lease) == expected


def _snap(status: str, reason: str = "r", message: str = "m") -> dict[str, str]:
    return {"type": "SnapshotHealthy", "status": status, "reason": reason, "message": message}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # first failure, and a failure after success: a Warning naming the cause
        (None, _snap("False", "SnapshotFailed", "boom"), ("Warning", "SnapshotFailed")),
        (_snap("True"), _snap("False", "SnapshotFailed", "boom"), ("Warning", "SnapshotFailed")),
        (_snap("Unknown"), _snap("False", "SnapshotFailed", "x"), ("Warning", "SnapshotFailed")),
        # a different failure is news; the same one on every interval is not
        (_snap("False", message="a"), _snap("False", message="b"), ("Warning", "r")),
        (_snap("False", message="a"), _snap("False", message="a"), None),
        # recovery: one Normal event; steady success or Unknown: nothing
        (_snap("False"), _snap("True", "SnapshotTaken"), ("Normal", "SnapshotHealthy")),
        (_snap("True"), _snap("True"), None),
        (None, _snap("True"), None),
        (None, _snap("Unknown", "NotConfigured"), None),
        (_snap("False"), _snap("Unknown"), None),
    ],
)
def test_snapshot_health_transitions_and_their_events(
    old: dict[str, str] | None, new: dict[str, str], expected: tuple[str, str] | None
) -> None:
    event = snapshot_event(old, new)
    assert (None if event is None else (event.type, event.reason)) == expected
    if event is not None and event.type == "Warning":
        assert event.message == new["message"]


S1 = "20261123T110000.000000Z-aaaaaaaa"
S2 = "20261123T120000.000000Z-bbbbbbbb"


def _verify(ok: bool, snapshot_id: str | None = S1, **extra: Any) -> dict[str, Any]:
    return {
        "request": "r1",
        "snapshotId": snapshot_id,
        "time": "2026-11-23T11:30:00Z",
        "ok": ok,
        "corruptChunks": 0 if ok else 1,
        "missingChunks": 0,
        "message": "m",
        **extra,
    }


@pytest.mark.parametrize(
    ("case", "last_verify", "last_snapshot", "counts"),
    [
        ("never verified", None, {"id": S1}, False),
        ("verified ok", _verify(True), {"id": S1}, False),
        ("damaged, still the latest", _verify(False), {"id": S1}, True),
        ("damaged, no snapshot taken by this runner yet", _verify(False), None, True),
        ("damaged, a newer snapshot repaired it", _verify(False), {"id": S2}, False),
        ("damaged newer than the runner's last", _verify(False, S2), {"id": S1}, True),
        ("only missing chunks", _verify(False, corruptChunks=0, missingChunks=2), None, True),
        ("nothing checked (store unreachable)", _verify(False, None), {"id": S1}, False),
        ("malformed: ok absent", {"snapshotId": S1}, {"id": S1}, False),
    ],
)
def test_snapshot_corrupt(
    case: str,
    last_verify: dict[str, Any] | None,
    last_snapshot: dict[str, Any] | None,
    counts: bool,
) -> None:
    message = snapshot_corrupt(last_verify, last_snapshot)
    assert (message is not None) is counts, case
    if message is not None and last_verify is not None:
        corrupt, missing = last_verify["corruptChunks"], last_verify["missingChunks"]
        assert f"{corrupt} corrupt, {missing} missing" in message
        assert str(last_verify["snapshotId"]) in message


@pytest.mark.parametrize(
    ("case", "extra", "expected"),
    [
        ("damaged latest", {"lastVerify": _verify(False)}, ("False", "SnapshotCorrupt")),
        (
            "damaged latest, taken by this runner",
            {"lastVerify": _verify(False), "lastSnapshot": {"id": S1}},
            ("False", "SnapshotCorrupt"),
        ),
        (
            "repaired by a newer snapshot",
            {"lastVerify": _verify(False), "lastSnapshot": {"id": S2}},
            ("True", "SnapshotTaken"),
        ),
        (
            "a later verification passed",
            {"lastVerify": _verify(True), "lastSnapshot": {"id": S1}},
            ("True", "SnapshotTaken"),
        ),
        (
            "a failing snapshot says more than an old verification",
            {"lastVerify": _verify(False), "snapshotError": "AccessDenied"},
            ("False", "SnapshotFailed"),
        ),
    ],
)
def test_snapshot_health_from_verification(
    case: str, extra: dict[str, Any], expected: tuple[str, str]
) -> None:
    verdict = decide_status(
        Observed(
            generation=1,
            runner=report("Connected", **extra),
            snapshots_configured=True,
            **RUNNING,
        ),
        NOW,
    )
    assert conditions(verdict.conditions)["SnapshotHealthy"] == expected, case


def test_a_corrupt_snapshot_is_a_warning_event() -> None:
    verdict = decide_status(
        Observed(
            generation=1,
            runner=report("Connected", lastVerify=_verify(False)),
            snapshots_configured=True,
            **RUNNING,
        ),
        NOW,
    )
    new = next(c for c in verdict.conditions if c["type"] == "SnapshotHealthy")
    event = snapshot_event(_snap("True", "SnapshotTaken"), new)
    assert event is not None
    assert (event.type, event.reason) == ("Warning", "SnapshotCorrupt")
    assert "1 corrupt, 0 missing" in event.message


@pytest.mark.parametrize(
    ("case", "report_", "accepted", "lease_free", "current"),
    [
        ("token-less Failed, nobody leads", {"phase": "Failed"}, 4, True, True),
        ("token-less Failed while a runner leads", {"phase": "Failed"}, 4, False, False),
        ("token-less Standby, nobody leads", {"phase": "Standby"}, 4, True, False),
        ("a stale token is stale even with the lease free", report("Failed", 2), 4, True, False),
        ("a boolean is not a token", {"phase": "Failed", "fencingToken": True}, 0, False, False),
    ],
)
def test_a_token_less_failed_report_counts_only_while_nobody_leads(
    case: str, report_: dict[str, Any], accepted: int | None, lease_free: bool, current: bool
) -> None:
    assert runner_report_is_current(report_, accepted, lease_free=lease_free) is current, case


def test_a_runner_that_failed_before_it_could_lead_is_shown_failed() -> None:
    verdict = decide_status(
        Observed(
            generation=1,
            runner={"phase": "Failed", "message": "spec.snapshot.encryptionKeySecret: 12 bytes"},
            accepted_token=4,
            lease_free=True,
            **RUNNING,
        ),
        NOW,
    )
    assert verdict.phase == "Failed"
    assert "12 bytes" in verdict.conditions[0]["message"]
    assert verdict.fencing_token == 4  # the accepted token stays


def _lease(holder: str | None, renewed: str = "2026-11-23T11:59:50.000000Z") -> dict[str, Any]:
    return {"spec": {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": 15}}


@pytest.mark.parametrize(
    ("case", "lease", "free"),
    [
        ("no Lease", None, True),
        ("released (no holder)", _lease(None), True),
        ("held, renewed 10 s ago", _lease("waa-demo-0_x"), False),
        ("held, renewals stopped 20 s ago", _lease("waa-demo-0_x", "2026-11-23T11:59:40Z"), True),
        ("held, renewTime unreadable", _lease("waa-demo-0_x", "yesterday"), False),
    ],
)
def test_lease_is_free(case: str, lease: dict[str, Any] | None, free: bool) -> None:
    assert lease_is_free(lease, NOW) is free, case


X, Y = "20260101T000000.000000Z-aaaa", "20260102T000000.000000Z-bbbb"


@pytest.mark.parametrize(
    ("case", "restore_from", "recorded", "restored_from", "expected"),
    [
        ("no request", None, None, None, None),
        ("removed from the spec: forgotten", None, {"snapshotId": X, "generation": 3}, None, None),
        ("a new request", X, None, None, {"snapshotId": X, "generation": 7, "consumed": False}),
        (
            "another snapshot: a new request",
            Y,
            {"snapshotId": X, "generation": 3, "consumed": True},
            None,
            {"snapshotId": Y, "generation": 7, "consumed": False},
        ),
        (
            "pending, nothing reported",
            X,
            {"snapshotId": X, "generation": 3, "consumed": False},
            None,
            {"snapshotId": X, "generation": 3, "consumed": False},
        ),
        (
            "the runner did it for this request",
            X,
            {"snapshotId": X, "generation": 3, "consumed": False},
            {"snapshotId": X, "generation": 3},
            {"snapshotId": X, "generation": 3, "consumed": True},
        ),
        (
            "the runner did it before the request was recorded",
            X,
            {"snapshotId": X, "generation": 3, "consumed": False},
            {"snapshotId": X, "generation": None},
            {"snapshotId": X, "generation": 3, "consumed": True},
        ),
        (
            "the runner did it for an older request of the same id",
            X,
            {"snapshotId": X, "generation": 9, "consumed": False},
            {"snapshotId": X, "generation": 3},
            {"snapshotId": X, "generation": 9, "consumed": False},
        ),
        (
            "consumed stays consumed",
            X,
            {"snapshotId": X, "generation": 3, "consumed": True},
            None,
            {"snapshotId": X, "generation": 3, "consumed": True},
        ),
    ],
)
def test_next_restore_request(
    case: str,
    restore_from: str | None,
    recorded: dict[str, Any] | None,
    restored_from: dict[str, Any] | None,
    expected: dict[str, Any] | None,
) -> None:
    assert next_restore_request(restore_from, 7, recorded, restored_from) == expected, case


def test_the_verdict_carries_the_request_and_its_consumption_is_announced_once() -> None:
    pending = {"snapshotId": X, "generation": 2, "consumed": False}
    verdict = decide_status(
        Observed(
            generation=2,
            runner=report("Connected", restoredFrom={"snapshotId": X, "generation": 2}),
            restore_from=X,
            restore_request=pending,
            **RUNNING,
        ),
        NOW,
    )
    assert verdict.as_status_patch()["restoreRequest"] == {**pending, "consumed": True}
    event = restore_consumed_event(pending, verdict.restore_request)
    assert event is not None
    assert event.reason == "RestoreFromConsumed"
    assert restore_consumed_event(verdict.restore_request, verdict.restore_request) is None
