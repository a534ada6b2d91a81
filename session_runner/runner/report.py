"""What the runner tells its account's status, and where it writes it.

The runner owns `status.runner` only; the operator turns it into the phase
and conditions. Every report carries the fencing token the runner acquired its
lease with, so the operator ignores a runner that lost the lease and woke up
late (see wafleet_operator.status.runner_report_is_current).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from session_runner.kube.client import MERGE_PATCH, KubeClient

log = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = "wafleet.io", "v1alpha1", "whatsappaccounts"
REPORT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RunnerFacts:
    """The runner's view of its session at one moment."""

    phase: str
    holder: str
    fencing_token: int | None = None
    login_qr: str | None = None
    message: str | None = None
    last_snapshot: dict[str, Any] | None = None
    snapshot_error: str | None = None
    last_verify: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def build_report(facts: RunnerFacts, now: datetime) -> dict[str, Any]:
    """Pure: the `status.runner` object (camelCase; None clears a field in a merge patch)."""
    return {
        "phase": facts.phase,
        "holder": facts.holder,
        "fencingToken": facts.fencing_token,
        "loginQr": facts.login_qr,
        "message": facts.message,
        "lastSnapshot": facts.last_snapshot,
        "snapshotError": facts.snapshot_error,
        "lastVerify": facts.last_verify,
        "reportedAt": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class Reporter(Protocol):
    async def report(self, facts: RunnerFacts) -> None: ...


class KubernetesReporter:
    """Merge-patches `status.runner` on the account's status subresource."""

    def __init__(self, client: KubeClient, namespace: str, account: str) -> None:
        self._client = client
        self._path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{account}/status"

    async def report(self, facts: RunnerFacts) -> None:
        body = {"status": {"runner": build_report(facts, datetime.now(UTC))}}
        await asyncio.wait_for(
            self._client.request("PATCH", self._path, body, content_type=MERGE_PATCH),
            REPORT_TIMEOUT_S,
        )


class FileReporter:
    """Outside Kubernetes (DynamoDB lease, local demo): the report goes to a JSON file."""

    def __init__(self, path: Path) -> None:
        self._path = path

    async def report(self, facts: RunnerFacts) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(build_report(facts, datetime.now(UTC)), indent=2), encoding="utf-8"
        )
        tmp.replace(self._path)
