"""The Kubernetes reporter's shell: read, decide, write conditionally, and on 409 read again.

The API server is played by a scripted client (its answers in order), since
a conflict between the read and the write cannot be provoked on demand on a
real server; tests/integration/test_duplicate_runners.py covers the rest there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from session_runner.kube.client import KubeApiError, KubeClient
from session_runner.kube.errors import error_for
from session_runner.session.report import (
    REPORT_ATTEMPTS,
    KubernetesReporter,
    RunnerFacts,
    WriteDecision,
)


class ScriptedApiServer:
    """Answers each request with the next scripted answer (a dict, or a KubeApiError to raise)."""

    def __init__(self, answers: list[dict[str, Any] | KubeApiError]) -> None:
        self._answers: Iterator[dict[str, Any] | KubeApiError] = iter(answers)
        self.requests: list[tuple[str, Any]] = []

    async def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = ""
    ) -> dict[str, Any]:
        assert path == "/apis/wafleet.io/v1alpha1/namespaces/ns/whatsappaccounts/demo/status"
        self.requests.append((method, body))
        answer = next(self._answers)
        if isinstance(answer, KubeApiError):
            raise answer
        return answer


def account(version: str, runner: dict[str, Any] | None) -> dict[str, Any]:
    status = {"runner": runner} if runner is not None else None
    return {"metadata": {"name": "demo", "resourceVersion": version}, "status": status}


# As the client raises it: the status picks the class (session_runner.kube.errors).
CONFLICT = error_for(409, "Conflict", "the object has been modified")


def reporter(server: ScriptedApiServer) -> KubernetesReporter:
    client: KubeClient = server  # type: ignore[assignment]  # structurally what the reporter calls
    return KubernetesReporter(client, "ns", "demo")


async def test_the_write_is_conditional_on_the_version_the_decision_read() -> None:
    server = ScriptedApiServer([account("41", None), {}])
    decision = await reporter(server).report(
        RunnerFacts("Restoring", "waa-demo-0", 3, last_token=3)
    )
    assert decision is WriteDecision.WRITE
    (_, (method, body)) = server.requests
    assert method == "PATCH"
    assert body["metadata"] == {"resourceVersion": "41"}
    assert (body["status"]["runner"]["phase"], body["status"]["runner"]["fencingToken"]) == (
        "Restoring",
        3,
    )


async def test_a_standby_reads_the_leaders_report_and_writes_nothing() -> None:
    server = ScriptedApiServer([account("41", {"phase": "Connected", "fencingToken": 3})])
    decision = await reporter(server).report(RunnerFacts("Standby", "waa-demo-0"))
    assert decision is WriteDecision.NOT_MINE
    assert [method for method, _ in server.requests] == ["GET"]


async def test_a_conflict_means_read_again_and_decide_on_what_is_there_now() -> None:
    """A deposed leader decided over its own report; a successor wrote in between."""
    server = ScriptedApiServer(
        [
            account("41", {"phase": "Connected", "fencingToken": 3}),
            CONFLICT,
            account("42", {"phase": "Restoring", "fencingToken": 4}),
        ]
    )
    facts = RunnerFacts("Standby", "waa-demo-0", None, message="lease lost", last_token=3)
    assert await reporter(server).report(facts) is WriteDecision.NOT_MINE
    assert [method for method, _ in server.requests] == ["GET", "PATCH", "GET"]


async def test_conflicts_on_every_attempt_give_up_with_the_error() -> None:
    answers: list[dict[str, Any] | KubeApiError] = []
    for attempt in range(REPORT_ATTEMPTS):
        answers += [account(str(attempt), None), CONFLICT]
    server = ScriptedApiServer(answers)
    with pytest.raises(KubeApiError) as raised:
        await reporter(server).report(RunnerFacts("Connected", "waa-demo-0", 3, last_token=3))
    assert raised.value.status == 409
    assert [m for m, _ in server.requests].count("PATCH") == REPORT_ATTEMPTS


async def test_other_errors_are_not_retried() -> None:
    server = ScriptedApiServer([account("41", None), error_for(403, "Forbidden", "no")])
    with pytest.raises(KubeApiError):
        await reporter(server).report(RunnerFacts("Connected", "waa-demo-0", 3, last_token=3))
    assert len(server.requests) == 2
