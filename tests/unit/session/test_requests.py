"""Which on-demand requests (snapshot, verify) one poll of the annotations asks to serve."""

from __future__ import annotations

import pytest

from session_runner.contract import SNAPSHOT_REQUEST_ANNOTATION, VERIFY_REQUEST_ANNOTATION
from session_runner.session.requests import Requests, Served, next_requests

SNAP, VERIFY = SNAPSHOT_REQUEST_ANNOTATION, VERIFY_REQUEST_ANNOTATION
T1, T2 = "2026-11-23T12:00:00Z", "2026-11-23T12:05:00Z"


@pytest.mark.parametrize(
    ("served", "annotations", "leading", "expected"),
    [
        # The first poll: whatever is there counts as served (a restart repeats nothing).
        (None, {SNAP: T1, VERIFY: T1}, True, Requests(Served(T1, T1))),
        (None, {}, True, Requests(Served(None, None))),
        (None, {SNAP: T1}, False, Requests(Served(T1, None))),
        # A new value, while leading: serve it once.
        (Served(), {SNAP: T1}, True, Requests(Served(T1, None), snapshot=T1)),
        (Served(), {VERIFY: T1}, True, Requests(Served(None, T1), verify=T1)),
        (Served(T1, T1), {SNAP: T2, VERIFY: T2}, True, Requests(Served(T2, T2), T2, T2)),
        # The value already served: nothing to do.
        (Served(T1, T1), {SNAP: T1, VERIFY: T1}, True, Requests(Served(T1, T1))),
        # Without the lease nothing is served and nothing remembered: the leader serves it,
        # or this runner once it leads.
        (Served(T1, None), {SNAP: T2, VERIFY: T2}, False, Requests(Served(T1, None))),
        # Removing an annotation asks for nothing and forgets nothing ...
        (Served(T1, T1), {}, True, Requests(Served(T1, T1))),
        # ... so setting it back to the served value repeats nothing.
        (Served(T1, T1), {SNAP: T1}, True, Requests(Served(T1, T1))),
        # An empty value asks for nothing.
        (Served(T1, T1), {SNAP: "", VERIFY: ""}, True, Requests(Served(T1, T1))),
        # The two requests are independent.
        (Served(T1, T1), {SNAP: T1, VERIFY: T2}, True, Requests(Served(T1, T2), verify=T2)),
        # Other annotations mean nothing here (the fence is the watcher's).
        (Served(), {"wafleet.io/fenced": "true"}, True, Requests(Served())),
    ],
)
def test_each_new_request_is_served_once_by_the_leader(
    served: Served | None, annotations: dict[str, str], leading: bool, expected: Requests
) -> None:
    assert next_requests(served, annotations, leading=leading) == expected


def test_a_request_made_while_standing_by_is_served_once_leading() -> None:
    served = next_requests(None, {}, leading=False).served
    served = next_requests(served, {SNAP: T1}, leading=False).served
    now = next_requests(served, {SNAP: T1}, leading=True)
    assert now.snapshot == T1
    assert next_requests(now.served, {SNAP: T1}, leading=True).snapshot is None
