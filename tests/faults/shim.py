"""`python -m tests.faults.shim session`: the real runner, plus what the fault trials observe.

The runner code is not changed; this entry point only wraps it so a trial can:

* shift and jump the runner's *wall* clock (`WAFLEET_FAULTS_WALL_JUMPS`,
  "seconds-after-start:offset-seconds" pairs separated by commas, e.g.
  "1.5:3600,3:-7200"): every `datetime.now()` the elector (acquire/renew
  timestamps) and the reporter (reportedAt) take is moved by the offset in
  force. The lease decisions use only the monotonic clock, so this must
  change nothing; the trials prove it with real processes rather than by
  reading the code. (No faketime on this machine, and CLOCK_REALTIME cannot
  be moved per process without it.)
* journal (`WAFLEET_FAULTS_JOURNAL`, JSON lines, appended with O_APPEND so
  lines from several processes never interleave) every acquisition with its
  fencing token and every status report with its token, phase and monotonic
  send/finish times: the stale-write check needs to know which tokens existed
  when a report was written.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timedelta, tzinfo
from typing import Any

_START = time.monotonic()


def parse_jumps(spec: str) -> list[tuple[float, float]]:
    """ "1.5:3600,3:-7200" -> [(1.5, 3600.0), (3.0, -7200.0)], sorted by time."""
    jumps = []
    for part in spec.split(","):
        if part.strip():
            at, offset = part.split(":")
            jumps.append((float(at), float(offset)))
    return sorted(jumps)


def offset_at(jumps: list[tuple[float, float]], elapsed: float) -> float:
    """The wall-clock offset in force `elapsed` seconds after start (0 before the first jump)."""
    current = 0.0
    for at, offset in jumps:
        if elapsed >= at:
            current = offset
    return current


_JUMPS = parse_jumps(os.environ.get("WAFLEET_FAULTS_WALL_JUMPS", ""))


class SkewedDatetime(datetime):
    """`datetime` whose now() runs at the shim's wall-clock offset."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> SkewedDatetime:
        real = datetime.now(tz)
        skew = timedelta(seconds=offset_at(_JUMPS, time.monotonic() - _START))
        shifted = real + skew
        return cls(
            shifted.year,
            shifted.month,
            shifted.day,
            shifted.hour,
            shifted.minute,
            shifted.second,
            shifted.microsecond,
            shifted.tzinfo,
        )


def journal(record: dict[str, Any]) -> None:
    """Append one line to the journal (a single write(2) with O_APPEND: atomic enough)."""
    path = os.environ.get("WAFLEET_FAULTS_JOURNAL")
    if not path:
        return
    record = {"pod": os.environ.get("WAFLEET_POD_NAME", ""), "pid": os.getpid(), **record}
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


def install() -> None:
    """Patch the wall clocks and wrap the acquisition and report paths (see module docstring)."""
    from session_runner.session import report, runner
    from session_runner.session.lease import elector

    if _JUMPS:
        # Both modules look `datetime` up at call time (elector.utc_now, the reporters).
        setattr(elector, "datetime", SkewedDatetime)  # noqa: B010 (not re-exported, for mypy)
        setattr(report, "datetime", SkewedDatetime)  # noqa: B010

    original_lead = runner.SessionRunner._lead

    async def lead(self: runner.SessionRunner, token: int) -> None:
        journal({"kind": "acquired", "token": token, "t": time.monotonic()})
        await original_lead(self, token)

    runner.SessionRunner._lead = lead  # type: ignore[method-assign]

    for cls in (report.FileReporter, report.KubernetesReporter):
        _wrap_report(cls)


def _wrap_report(cls: Any) -> None:
    original = cls.report

    async def wrapped(self: Any, facts: Any, **kwargs: Any) -> Any:
        from session_runner.session.report import WriteDecision

        sent = time.monotonic()
        ok = False
        try:
            decision = await original(self, facts, **kwargs)
            # Only a report that was written counts; a withheld one changed nothing.
            ok = decision is WriteDecision.WRITE
            return decision
        finally:
            journal(
                {
                    "kind": "report",
                    "token": facts.fencing_token,
                    "phase": facts.phase,
                    "sent": sent,
                    "done": time.monotonic(),
                    "ok": ok,
                }
            )

    cls.report = wrapped


def main() -> int:
    install()
    from session_runner.main import main as runner_main

    sys.argv[0] = "wafleet-runner"
    runner_main()  # typer exits the process itself
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
