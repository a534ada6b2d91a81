"""`wafleet-runner session` as a local process, for the demo, the benchmarks and tests.

Outside a cluster a runner is configured the same way the operator configures
it in a pod: WAFLEET_* environment variables. This module holds the one set
of development defaults (the local engine logging in at once, no health port,
a status file instead of a status subresource) so the demo, the failover
benchmark and the process tests start runners the same way and differ only in
what they pass as `extra` (lease backend, snapshot store, activity log).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

RUNNER_EXECUTABLE = Path(sys.executable).with_name("wafleet-runner")


@dataclass(frozen=True)
class LeaseTimings:
    """Short timings so a local failover takes seconds (production defaults: 15/10/2)."""

    duration: float = 3.0
    renew_deadline: float = 2.0
    retry_period: float = 0.5


def runner_env(
    name: str,
    workdir: Path,
    *,
    account: str = "demo",
    lease: LeaseTimings = LeaseTimings(),
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of runner `name` (its pod name) with its files under `workdir/name`.

    Inherited WAFLEET_* variables are dropped so the caller's shell cannot leak
    into the runner; in `extra`, an empty value removes a default.
    """
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WAFLEET_")},
        "WAFLEET_ACCOUNT_NAME": account,
        "WAFLEET_PHONE_NUMBER": "+15550100001",
        "WAFLEET_ENGINE": "local",
        "WAFLEET_POD_NAME": name,
        "WAFLEET_LEASE_DURATION_SECONDS": f"{lease.duration:g}",
        "WAFLEET_LEASE_RENEW_DEADLINE_SECONDS": f"{lease.renew_deadline:g}",
        "WAFLEET_LEASE_RETRY_PERIOD_SECONDS": f"{lease.retry_period:g}",
        "WAFLEET_SESSION_DIR": str(workdir / name / "session"),
        "WAFLEET_STATUS_FILE": str(workdir / name / "status.json"),
        "WAFLEET_HEALTH_PORT": "0",
        "WAFLEET_METRICS_PORT": "0",
        "WAFLEET_LOCAL_ENGINE_AUTO_LOGIN_AFTER_S": "0",
        **(extra or {}),
    }
    return {k: v for k, v in env.items() if v != ""}


@dataclass
class LocalRunner:
    """A started runner process and where it reports."""

    name: str
    process: subprocess.Popen[bytes]
    status_file: Path | None  # None: it reports to its account's status in Kubernetes

    def status(self) -> dict[str, Any]:
        """What the runner last reported to its status file; {} before its first report."""
        if self.status_file is None:
            return {}
        try:
            return dict(json.loads(self.status_file.read_text()))
        except (OSError, ValueError):
            return {}

    def stop(self) -> None:
        """SIGKILL if still running (tests and benches clean up; SIGTERM is the graceful path)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def start_runner(
    name: str,
    workdir: Path,
    *,
    account: str = "demo",
    lease: LeaseTimings = LeaseTimings(),
    extra: Mapping[str, str] | None = None,
    output: IO[bytes] | int = subprocess.DEVNULL,
) -> LocalRunner:
    """Start `wafleet-runner session` as runner `name` (see `runner_env`)."""
    env = runner_env(name, workdir, account=account, lease=lease, extra=extra)
    process = subprocess.Popen(
        [str(RUNNER_EXECUTABLE), "session"], env=env, stdout=output, stderr=subprocess.STDOUT
    )
    status_file = env.get("WAFLEET_STATUS_FILE")
    return LocalRunner(name, process, Path(status_file) if status_file else None)
