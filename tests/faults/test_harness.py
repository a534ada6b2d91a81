"""The fault harness's own arithmetic and its proxy: a check that cannot fail proves nothing.

These feed hand-made activity timelines and status writes to the same
functions the trials use and assert that overlaps and accepted stale writes
are seen when they exist, and that frozen windows and the wake-up grace are
cut exactly where documented. The proxy's own tests put it in front of the
real API server: a token passes through as that ServiceAccount (never as the
admin), and faults hit only what their window names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.activity import (
    find_overlaps,
    intervals,
    live_pieces,
    overlaps,
    wake_to_kill,
)
from tests.faults.proxy import FaultProxy, Window, _error_body
from tests.faults.shim import offset_at, parse_jumps
from tests.faults.trial import (
    LEASE_DURATION_S,
    RENEW_DEADLINE_S,
    RETRY_PERIOD_S,
    plan,
    stale_writes,
)
from tests.harness.kube import KubeApi


def _log(path: Path, *lines: tuple[str, int, float]) -> Path:
    path.write_text(
        "".join(
            json.dumps({"event": e, "pid": pid, "identity": f"r{pid}", "t": t}) + "\n"
            for e, pid, t in lines
        )
    )
    return path


def test_two_live_engines_at_once_are_an_overlap(tmp_path: Path) -> None:
    log = _log(tmp_path / "a.jsonl", ("active", 1, 0.0), ("active", 2, 5.0), ("inactive", 1, 6.0))
    pieces = live_pieces(intervals(log, key="pid"), killed_at={}, frozen={}, end_of_trial=10.0)
    found = find_overlaps(pieces, wake_grace=0.25)
    assert [(o.first, o.second, o.start, o.end) for o in found] == [("1", "2", 5.0, 6.0)]
    assert overlaps(log, {}) == [("r1", "r2")]


def test_a_killed_runner_is_live_until_its_kill(tmp_path: Path) -> None:
    log = _log(tmp_path / "a.jsonl", ("active", 1, 0.0), ("active", 2, 5.0))
    spans = intervals(log, key="pid")
    before = live_pieces(spans, killed_at={"1": [4.0]}, frozen={}, end_of_trial=10.0)
    assert find_overlaps(before, wake_grace=0.0) == []
    after = live_pieces(spans, killed_at={"1": [5.5]}, frozen={}, end_of_trial=10.0)
    assert len(find_overlaps(after, wake_grace=0.0)) == 1


def test_a_frozen_runner_counts_again_after_its_wake_grace(tmp_path: Path) -> None:
    # r1 frozen over [1, 4); r2 takes over at 3; r1 wakes at 4 and kills its engine at 4.1.
    log = _log(tmp_path / "a.jsonl", ("active", 1, 0.0), ("active", 2, 3.0), ("inactive", 1, 4.1))
    pieces = live_pieces(
        intervals(log, key="pid"), killed_at={}, frozen={"1": [(1.0, 4.0)]}, end_of_trial=9.0
    )
    assert wake_to_kill(pieces) == pytest.approx([0.1])
    assert find_overlaps(pieces, wake_grace=0.25) == []
    late = find_overlaps(pieces, wake_grace=0.05)
    assert [(o.start, o.end) for o in late] == [pytest.approx((4.05, 4.1))]


def test_a_stale_report_is_counted_only_when_the_rule_would_accept_it() -> None:
    acquired = [(0.0, 1), (5.0, 2)]
    # r(token 2) reported first, so the late token-1 report is refused: stale, not accepted.
    refused = [(5.1, 5.2, 2, "Restoring"), (6.0, 6.1, 1, "Connected")]
    assert stale_writes(refused, acquired) == (1, [])
    # The token-1 report lands after token 2 was acquired but before its holder reported.
    accepted = [(5.1, 5.2, 1, "Connected"), (5.3, 5.4, 2, "Restoring")]
    stale, lines = stale_writes(accepted, acquired)
    assert stale == 1
    assert len(lines) == 1
    assert lines[0].startswith("Connected token=1")


def test_plans_are_reproducible_and_keep_client_go_ordering() -> None:
    assert plan(42) == plan(42)
    assert plan(42) != plan(43)
    assert {plan(s).backend for s in range(4)} == {"kubernetes", "dynamodb"}
    assert LEASE_DURATION_S > RENEW_DEADLINE_S > 1.2 * RETRY_PERIOD_S
    for seed in range(50):
        for fault in plan(seed).process_faults:
            if fault.kind == "pause":
                assert fault.seconds > LEASE_DURATION_S


def test_wall_jumps_parse_and_apply_in_order() -> None:
    jumps = parse_jumps("3:-7200,1.5:3600")
    assert jumps == [(1.5, 3600.0), (3.0, -7200.0)]
    assert [offset_at(jumps, t) for t in (0.0, 2.0, 9.0)] == [0.0, 3600.0, -7200.0]


def test_injected_errors_look_like_the_real_services() -> None:
    assert json.loads(_error_body("kubernetes", 409))["reason"] == "Conflict"
    assert json.loads(_error_body("dynamodb", 400))["__type"].endswith(
        "ConditionalCheckFailedException"
    )


# ------------------------------------------------------------------ the proxy on a real server


def _who(http: httpx.Client) -> tuple[int, str | None]:
    """(status, username) of a SelfSubjectReview: who the API server thinks is asking."""
    answer = http.post(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    if answer.status_code >= 300:
        return answer.status_code, None
    return answer.status_code, str(answer.json()["status"]["userInfo"]["username"])


@pytest.fixture
def proxy_pair(kube_api: KubeApi) -> Iterator[tuple[FaultProxy, FaultProxy]]:
    """Two proxies in front of the real API server: without and with the admin fallback."""
    plain = FaultProxy.for_control_plane(kube_api.plane, seed=1)
    admin = FaultProxy.for_control_plane(kube_api.plane, seed=1, admin_without_token=True)
    plain.start()
    admin.start()
    try:
        yield plain, admin
    finally:
        plain.stop()
        admin.stop()


def test_the_proxy_forwards_a_token_and_never_lends_it_the_admin_certificate(
    kube_api: KubeApi, proxy_pair: tuple[FaultProxy, FaultProxy]
) -> None:
    with kube_api.http() as http:
        http.post(
            f"/api/v1/namespaces/{kube_api.namespace}/serviceaccounts",
            json={"metadata": {"name": "someone"}},
        ).raise_for_status()
    token = kube_api.token_for("someone")
    someone = f"system:serviceaccount:{kube_api.namespace}:someone"
    plain, admin = proxy_pair
    for proxy in (plain, admin):
        with httpx.Client(base_url=proxy.url, headers={"Authorization": f"Bearer {token}"}) as http:
            assert _who(http) == (201, someone)
    with httpx.Client(base_url=admin.url) as http:
        status, user = _who(http)
    assert status == 201
    assert user is not None
    assert user != someone
    assert not user.startswith("system:anonymous")
    with httpx.Client(base_url=plain.url) as http:
        status, user = _who(http)  # anonymous upstream: refused
    assert (status, user) == (403, None)


def test_a_status_window_answers_its_code_only_to_its_method_and_path(
    kube_api: KubeApi, proxy_pair: tuple[FaultProxy, FaultProxy]
) -> None:
    _, admin = proxy_pair
    namespace = f"/api/v1/namespaces/{kube_api.namespace}"
    admin.add(Window("status", 0.0, float("inf"), status=429, method="GET", path=r"/configmaps$"))
    with httpx.Client(base_url=admin.url) as http:
        refused = http.get(f"{namespace}/configmaps")
        created = http.post(f"{namespace}/configmaps", json={"metadata": {"name": "c"}})
        other = http.get(f"{namespace}/serviceaccounts")
    assert refused.status_code == 429
    assert refused.json()["reason"] == "TooManyRequests"
    assert created.status_code == 201
    assert other.status_code == 200
    assert admin.hits == {"status": 1}


def test_a_dropped_response_still_lands_the_write(
    kube_api: KubeApi, proxy_pair: tuple[FaultProxy, FaultProxy]
) -> None:
    _, admin = proxy_pair
    namespace = f"/api/v1/namespaces/{kube_api.namespace}"
    admin.add(Window("drop_response", 0.0, float("inf"), method="POST"))
    with httpx.Client(base_url=admin.url) as http, pytest.raises(httpx.TransportError):
        http.post(f"{namespace}/configmaps", json={"metadata": {"name": "landed"}})
    with kube_api.http() as http:
        assert http.get(f"{namespace}/configmaps/landed").status_code == 200
