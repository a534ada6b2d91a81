"""The phases a runner reports in `status.runner.phase`.

Defined here, on the runner's side of the contract, because the runner is
what writes them: the operator's CRD model (`RunnerReport.phase`) and its
phase mapping (`wafleet_operator.status.RUNNER_TO_ACCOUNT_PHASE`) import this
enum, so a phase the runner starts reporting is one the schema accepts and the
mapping must name (tests/unit/test_status.py checks it is exhaustive).
"""

from __future__ import annotations

from enum import StrEnum


class RunnerPhase(StrEnum):
    """What the runner itself observed; the operator maps it to AccountPhase."""

    STARTING = "Starting"
    STANDBY = "Standby"  # waiting for the Lease
    RESTORING = "Restoring"
    AWAITING_LOGIN = "AwaitingLogin"
    CONNECTED = "Connected"
    DISCONNECTED = "Disconnected"
    FENCED = "Fenced"
    STOPPED = "Stopped"
    FAILED = "Failed"
