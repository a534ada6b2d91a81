"""An account as the API shows it, from whatever the object and its Lease hold."""

from __future__ import annotations

from typing import Any

from session_runner.api.account_view import account_view, lease_name, login_qr, phase_of

NOW = "2026-12-06T10:00:00Z"


def test_a_full_account() -> None:
    obj = {
        "metadata": {"name": "alice", "namespace": "shop", "creationTimestamp": NOW},
        "spec": {"phoneNumber": "+15550100001", "engine": "protocol", "suspended": True},
        "status": {
            "phase": "Connected",
            "leaseHolder": "stale-holder",
            "fencingToken": 4,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Connected",
                    "lastTransitionTime": NOW,
                }
            ],
            "lastSnapshot": {"id": "s1", "time": NOW, "bytes": 10, "seconds": 2},
        },
    }
    lease = {"spec": {"holderIdentity": "waa-alice-0", "renewTime": "2026-12-06T10:00:01.5Z"}}
    view = account_view(obj, lease)
    assert view.model_dump() == {
        "name": "alice",
        "namespace": "shop",
        "phone_number": "+15550100001",
        "engine": "protocol",
        "suspended": True,
        "phase": "Connected",
        "ready": True,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Connected",
                "message": None,
                "last_transition_time": NOW,
            }
        ],
        "lease": {
            "holder": "waa-alice-0",  # the Lease, not the status's copy
            "fencing_token": 4,
            "renewed_at": "2026-12-06T10:00:01.5Z",
        },
        "last_snapshot": {"id": "s1", "time": NOW, "bytes": 10, "seconds": 2.0},
        "awaiting_login": False,
        "created_at": NOW,
    }


def test_junk_is_left_out_not_failed_on() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "bob"},
        "spec": "junk",
        "status": {
            "phase": 7,
            "leaseHolder": "waa-bob-0",
            "fencingToken": True,
            "conditions": [
                {"type": "Ready"},
                "junk",
                {"type": "X", "status": "True", "lastTransitionTime": "yesterday"},
            ],
            "lastSnapshot": {"id": "", "time": NOW},
            "loginQr": "",
        },
    }
    view = account_view(obj, None)
    assert view.phase is None
    assert view.engine == "browser"
    assert not view.ready
    assert [c.type for c in view.conditions] == ["X"]
    assert view.conditions[0].last_transition_time is None
    assert view.lease.holder == "waa-bob-0"
    assert view.lease.fencing_token is None
    assert view.last_snapshot is None
    assert not view.awaiting_login


def test_qr_phase_and_lease_name() -> None:
    obj = {"status": {"phase": "AwaitingLogin", "loginQr": "2@abc"}}
    assert login_qr(obj) == "2@abc"
    assert phase_of(obj) == "AwaitingLogin"
    assert phase_of({}) == "not started"
    assert login_qr({}) is None
    assert lease_name("alice") == "waa-alice"
