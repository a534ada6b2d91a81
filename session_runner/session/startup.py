"""When a session fails to start: how long to wait, when to give up on the process, what to say.

A runner holding the lease with no engine leaves the account offline while
every other runner waits for it. So a start that raises (restore, engine
start) releases the lease, reports Failed with the reason, waits
`start_backoff` and competes again; after `MAX_FAILED_STARTS` failures in a
row `/healthz` fails (`start_healthy`) so the kubelet restarts the pod (a
fresh process may recover, and the restart count shows in kubectl). The same
holds when the fencing token floor cannot be read (the store unreachable):
nothing is claimed, and liveness fails once that has lasted as long as
`MAX_FAILED_STARTS` backed-off starts would.

The decisions are pure functions (tests/unit/session/test_startup.py);
`SessionRunner` and `main` only wire them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from session_runner.contract import RunnerPhase
from session_runner.session.lease.backend import LeaseBackend
from session_runner.session.lease.record import HolderState, holder_state
from session_runner.session.report import Reporter, RunnerFacts, WriteDecision

log = logging.getLogger(__name__)

#: Failed starts in a row after which /healthz fails and the kubelet restarts the pod.
MAX_FAILED_STARTS = 5
#: The longest wait between two starts (the backoff doubles from the retry period up to it).
START_BACKOFF_CAP_S = 300.0
#: Bound on the one Lease read a start-up failure report makes.
LEASE_READ_TIMEOUT_S = 5.0
#: How much of an exception's text a report carries.
REASON_CHARS = 300


def start_backoff(attempt: int, base: float) -> float:
    """Seconds to wait after the `attempt`-th failed start in a row (1-based) before competing
    again: `base` (the lease retry period), doubling per attempt, capped at START_BACKOFF_CAP_S."""
    if attempt < 1:
        return 0.0
    return min(base * float(2 ** min(attempt - 1, 30)), START_BACKOFF_CAP_S)


def unhealthy_after(base: float) -> float:
    """How long the token floor may stay unreadable before liveness fails: as long as the
    backoffs before the MAX_FAILED_STARTS-th failed start take."""
    return sum(start_backoff(n, base) for n in range(1, MAX_FAILED_STARTS))


def start_healthy(failed_starts: int, floor_failing_for: float | None, base: float) -> bool:
    """Liveness as far as starting goes: False after MAX_FAILED_STARTS failed starts in a row,
    or when the token floor has been unreadable for `unhealthy_after(base)` seconds."""
    if failed_starts >= MAX_FAILED_STARTS:
        return False
    return floor_failing_for is None or floor_failing_for < unhealthy_after(base)


def describe_error(error: BaseException) -> str:
    """`Type: message`, one line, bounded, for status and logs.

    Our own errors never put key material or credentials in their text
    (KeyRingError names files and sizes; botocore names the operation and
    code), so the message is safe to show; it is cut to REASON_CHARS.
    """
    text = " ".join(str(error).split())
    reason = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return reason[:REASON_CHARS]


def failed_start_message(reason: str, attempt: int, pause: float) -> str:
    """The Failed report after the `attempt`-th failed start in a row."""
    message = f"start failed: {reason}; lease released, competing again in {pause:g} s"
    if attempt >= MAX_FAILED_STARTS:
        message += f" ({attempt} failed starts in a row: /healthz fails so the pod restarts)"
    elif attempt > 1:
        message += f" ({attempt} failed starts in a row)"
    return message


async def report_startup_failure(
    reporter: Reporter,
    backend: LeaseBackend,
    holder: str,
    message: str,
    *,
    now_wall: datetime,
) -> WriteDecision | None:
    """Report phase Failed for an error found before the runner competes (bad settings).

    The runner holds no lease, so the report carries no token. It may
    replace the report in the status unless that is a live leader's: when the
    Lease has no live holder (or does not exist), the report there belongs to
    nobody who runs, and `lease_free` lets `decide_write` replace it. If the
    Lease cannot be read, the usual standby rule applies (only over a
    token-less report). None: the report could not be written (logged).
    """
    try:
        record = await asyncio.wait_for(backend.get(), LEASE_READ_TIMEOUT_S)
        free = holder_state(record, now_wall) is not HolderState.LIVE
    except Exception as error:
        log.info("lease read failed (%s); reporting as a standby", type(error).__name__)
        free = False
    facts = RunnerFacts(phase=RunnerPhase.FAILED, holder=holder, message=message, lease_free=free)
    try:
        decision = await reporter.report(facts)
    except Exception as error:
        log.warning("start-up failure report failed: %s", type(error).__name__)
        return None
    if decision is WriteDecision.NOT_MINE:
        log.warning("start-up failure not reported: a live leader's report is in the status")
    return decision
