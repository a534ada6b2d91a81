"""What the runner tells its account's status, and where it writes it.

The runner owns `status.runner` only; the operator turns it into the phase
and conditions. Every report carries the fencing token the runner acquired its
lease with, so the operator ignores a runner that lost the lease and woke up
late (see wafleet_operator.status.runner_report_is_current).

One `status.runner` is shared by every runner of the account (a duplicated
pod, a deposed leader still shutting down), so a report is never written
blindly: `decide_write` says whether this runner may replace what is there
now, and the write is conditional on the resourceVersion that decision read
(409 Conflict → read again, decide again). A runner without the lease never
replaces the leader's report; a deposed leader replaces only its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from session_runner.contract import RunnerPhase, RunnerReportBody
from session_runner.contract.resources import account_path
from session_runner.kube.client import MERGE_PATCH, KubeClient
from session_runner.kube.errors import APIConflictError
from session_runner.session.lease.fencing import token_accepts

log = logging.getLogger(__name__)

REPORT_TIMEOUT_S = 5.0
#: Reads and conditional writes per report before giving up until the next one (or the
#: leader's next re-assert). Each conflict means someone else wrote the account in between.
REPORT_ATTEMPTS = 4
#: Fields that change on every write without saying anything new.
_VOLATILE = frozenset({"reportedAt"})


@dataclass(frozen=True)
class RunnerFacts:
    """The runner's view of its session at one moment."""

    phase: RunnerPhase
    holder: str
    fencing_token: int | None = None
    login_qr: str | None = None
    message: str | None = None
    last_snapshot: dict[str, Any] | None = None
    snapshot_error: str | None = None
    last_verify: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The token of this runner's latest leadership, kept after it ends (never sent):
    #: a deposed runner's token-less report may replace its own last report, nothing newer.
    last_token: int | None = None
    #: Set only by a runner reporting without the lease that has just read the Lease and
    #: found no live holder (a start-up failure, `startup.report_startup_failure`): the
    #: report in the status then belongs to nobody who runs, so it may be replaced.
    lease_free: bool = False
    #: `status.runner.restoredFrom`: the spec.restoreFrom request this runner carried
    #: out (see restore_request.py), so neither it nor the next pod does it again.
    restored_from: dict[str, Any] | None = None


class WriteDecision(Enum):
    """What to do with a report, given the report currently in `status.runner`."""

    WRITE = "write"
    UNCHANGED = "unchanged"  # a refresh that would say nothing new: no write, no event
    NOT_MINE = "not-mine"  # the current report belongs to a leader this runner must not undo


def report_token(report: Mapping[str, Any] | None) -> int | None:
    """The fencing token a report carries; None when absent or not a non-negative integer."""
    token = (report or {}).get("fencingToken")
    if isinstance(token, bool) or not isinstance(token, int) or token < 0:
        return None
    return token


def decide_write(
    current: Mapping[str, Any] | None,
    mine: Mapping[str, Any],
    last_token: int | None,
    *,
    refresh: bool = False,
    lease_free: bool = False,
) -> WriteDecision:
    """Pure: may this runner write report `mine` over `current`, what `status.runner` holds now?

    - `current` carries no token (nothing reported, a standby's or a deposed
      runner's report): anyone may write; it protects nothing.
    - `mine` carries a token (we lead): write unless `current` has a higher
      one, i.e. a successor already reported (`fencing.token_accepts`, the rule
      storage applies). The elector notices the lost lease on its own.
    - `mine` carries none (a standby; a runner that lost or released the
      lease): write only over the report of our own latest leadership
      (`current`'s token equals `last_token`). Tokens are unique per
      acquisition (every takeover increments leaseTransitions), so that report
      is ours and no successor has reported yet. A standby never held a token,
      so it never replaces a leader's report.
    - `lease_free` (a token-less start-up failure report whose runner just
      read that nobody holds the Lease live): write over any report; no live
      leader's would be undone.
    - `refresh` (the leader's periodic re-assert): skip a write that would
      change nothing but `reportedAt`; every write wakes the operator.
    """
    held, sending = report_token(current), report_token(mine)
    if held is not None and not (lease_free and sending is None):
        if sending is None and held != last_token:
            return WriteDecision.NOT_MINE
        if sending is not None and not token_accepts(held, sending):
            return WriteDecision.NOT_MINE
    if refresh and current is not None and _substance(current) == _substance(mine):
        return WriteDecision.UNCHANGED
    return WriteDecision.WRITE


def _substance(report: Mapping[str, Any]) -> dict[str, Any]:
    """A report without its volatile fields; absent and null are the same (a merge patch
    deletes what it sets to null)."""
    return {k: v for k, v in report.items() if v is not None and k not in _VOLATILE}


def build_report(facts: RunnerFacts, now: datetime) -> RunnerReportBody:
    """Pure: the `status.runner` object (camelCase; None clears a field in a merge patch).

    Its keys are the contract's (`session_runner.contract.report`), the ones the
    operator's CRD model accepts.
    """
    return {
        "phase": RunnerPhase(facts.phase),
        "holder": facts.holder,
        "fencingToken": facts.fencing_token,
        "loginQr": facts.login_qr,
        "message": facts.message,
        "lastSnapshot": facts.last_snapshot,
        "snapshotError": facts.snapshot_error,
        "lastVerify": facts.last_verify,
        "restoredFrom": facts.restored_from,
        "reportedAt": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class Reporter(Protocol):
    async def report(self, facts: RunnerFacts, *, refresh: bool = False) -> WriteDecision: ...


class KubernetesReporter:
    """Writes `status.runner` on the account's status subresource, conditionally.

    Read the status, `decide_write`, then a merge patch carrying the
    `metadata.resourceVersion` that was read: the API server applies it only
    if nothing wrote the account since (else 409, and we read and decide
    again). A resourceVersion precondition rather than a JSON-patch `test` of
    the token: it needs no case for a status or report that does not exist
    yet, and it is the precondition the Lease's writes already use.
    """

    def __init__(self, client: KubeClient, namespace: str, account: str) -> None:
        self._client = client
        self._path = f"{account_path(namespace, account)}/status"

    async def report(self, facts: RunnerFacts, *, refresh: bool = False) -> WriteDecision:
        """One report; raises APIError (or a network error) when it could not be written."""
        mine = build_report(facts, datetime.now(UTC))
        for attempt in range(1, REPORT_ATTEMPTS + 1):
            account = await self._call("GET")
            current = (account.get("status") or {}).get("runner")
            decision = decide_write(
                current, mine, facts.last_token, refresh=refresh, lease_free=facts.lease_free
            )
            if decision is not WriteDecision.WRITE:
                _log_decision(decision, facts, current)
                return decision
            version = (account.get("metadata") or {}).get("resourceVersion")
            body = {"metadata": {"resourceVersion": version}, "status": {"runner": mine}}
            try:
                await self._call("PATCH", body)
            except APIConflictError:
                if attempt == REPORT_ATTEMPTS:
                    raise
                continue
            _log_decision(decision, facts, current)
            return decision
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _call(self, method: str, body: Any = None) -> dict[str, Any]:
        return await asyncio.wait_for(
            self._client.request(method, self._path, body, content_type=MERGE_PATCH),
            REPORT_TIMEOUT_S,
        )


class FileReporter:
    """Outside Kubernetes (DynamoDB lease, local demo): the report goes to a JSON file.

    The same `decide_write` applies to a file two runners share. The read and
    the rename are not one atomic step across processes; a file report is for
    a laptop, where each runner usually has its own file anyway.
    """

    def __init__(self, path: Path) -> None:
        self._path = path

    async def report(self, facts: RunnerFacts, *, refresh: bool = False) -> WriteDecision:
        try:
            current = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            current = None
        mine = build_report(facts, datetime.now(UTC))
        decision = decide_write(
            current if isinstance(current, dict) else None,
            mine,
            facts.last_token,
            refresh=refresh,
            lease_free=facts.lease_free,
        )
        if decision is WriteDecision.WRITE:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._path.with_suffix(".tmp")
            tmp.write_text(json.dumps(mine, indent=2), encoding="utf-8")
            tmp.replace(self._path)
        _log_decision(decision, facts, current if isinstance(current, dict) else None)
        return decision


def _log_decision(
    decision: WriteDecision, facts: RunnerFacts, current: Mapping[str, Any] | None
) -> None:
    """One line per report: what was written or withheld, and over whose report.

    The fields are the phase and the tokens (never a QR payload or a message,
    which may quote what a peer sent).
    """
    fields = {
        "phase": facts.phase,
        "token": facts.fencing_token,
        "current_phase": (current or {}).get("phase"),
        "current_token": report_token(current),
    }
    if decision is WriteDecision.WRITE:
        log.info("status report written", extra=fields)
    elif decision is WriteDecision.NOT_MINE:
        log.info("status report withheld: the current report is another leader's", extra=fields)
    else:
        log.debug("status report unchanged", extra=fields)
