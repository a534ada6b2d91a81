"""Fault injection: chosen requests answer an error, slowly, or not at all."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import CONFIGMAPS, configmap, created

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


@pytest.mark.parametrize(
    ("code", "reason"), [(409, "Conflict"), (500, "InternalError"), (504, "Timeout")]
)
def test_the_next_matching_requests_answer_the_given_status(
    kube_emulator: EmulatorApi, code: int, reason: str
) -> None:
    rule = kube_emulator.faults.inject(method="PUT", path=r"/leases/", status=code, times=2)
    with kube_emulator.http() as http:
        lease = created(http, LEASES, {"metadata": {"name": "l"}, "spec": {}})
        answers = [http.put(f"{LEASES}/l", json=lease) for _ in range(3)]
        untouched = http.get(f"{LEASES}/l")  # another method: not affected
    assert [a.status_code for a in answers] == [code, code, 200]
    assert (answers[0].json()["kind"], answers[0].json()["reason"]) == ("Status", reason)
    assert untouched.status_code == 200
    assert rule.hits == 2
    assert rule.exhausted


def test_a_dropped_connection_gets_no_response(kube_emulator: EmulatorApi) -> None:
    kube_emulator.faults.inject(method="GET", path=r"/configmaps/a$", drop=True)
    with kube_emulator.http() as http:
        created(http, CONFIGMAPS, configmap("a"))
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(f"{CONFIGMAPS}/a")
        assert http.get(f"{CONFIGMAPS}/a").status_code == 200
    assert [r.status for r in kube_emulator.requests if r.path.endswith("/a")] == [-1, 200]


async def test_latency_delays_only_the_matching_requests(kube_emulator: EmulatorApi) -> None:
    rule = kube_emulator.faults.inject(path=r"/configmaps$", delay=0.5, times=None)
    async with httpx.AsyncClient(base_url=kube_emulator.url) as http:
        slow = asyncio.create_task(http.get(CONFIGMAPS))
        while rule.hits == 0:  # until the server holds the slow request  # noqa: ASYNC110 - hits is a plain counter
            await asyncio.sleep(0.01)
        fast = await http.get("/api/v1/namespaces")  # answered while the slow one still waits
        assert fast.status_code == 200
        assert not slow.done()
        assert (await slow).status_code == 200


def test_clear_removes_all_rules(kube_emulator: EmulatorApi) -> None:
    kube_emulator.faults.inject(status=500, times=None)
    kube_emulator.faults.clear()
    with kube_emulator.http() as http:
        assert http.get("/api/v1/namespaces").status_code == 200
