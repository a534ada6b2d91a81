"""Whose prefix is it: the operator deletes only a prefix whose owner.json names the account."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from session_runner.session.snapshot.manifest import OwnerDoc
from wafleet_operator.snapshots import Credentials, owner_verdict

UID = "5d0c2a4e-8f1b-4c6e-9a3d-7b2e1f0a9c01"
OTHER_UID = "5d0c2a4e-8f1b-4c6e-9a3d-7b2e1f0a9c99"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def doc(owner: str, uid: str = "") -> bytes:
    return OwnerDoc(owner=owner, uid=uid, created_at=NOW).to_json()


ROWS: list[tuple[str, bytes | None, bool, tuple[bool, bool]]] = [
    ("our uid", doc("ns/olga", UID), True, (True, False)),
    (
        # Names never change, so this store was copied or written by hand: the runner
        # refuses it too (one rule, ownership.decide_owner), and nothing is deleted.
        "our uid under another name",
        doc("ns/x", UID),
        True,
        (False, False),
    ),
    ("a predecessor of the same name", doc("ns/olga", OTHER_UID), True, (False, False)),
    ("legacy doc naming us", doc("ns/olga"), True, (True, False)),
    ("legacy doc naming another account", doc("ns/other"), True, (False, False)),
    ("legacy doc naming another namespace", doc("other/olga"), True, (False, False)),
    ("no owner.json, empty prefix", None, False, (False, True)),
    ("no owner.json, objects", None, True, (False, False)),
    ("not an owner document", b'{"owner": 1}', True, (False, False)),
    ("not json", b"\x00garbage", True, (False, False)),
]


@pytest.mark.parametrize(
    ("why", "stored", "has_objects", "expected"), ROWS, ids=[r[0] for r in ROWS]
)
def test_owner_verdict(
    why: str, stored: bytes | None, has_objects: bool, expected: tuple[bool, bool]
) -> None:
    verdict = owner_verdict(
        stored, has_objects=has_objects, namespace="ns", account="olga", uid=UID, where="s3://b/p/"
    )
    assert (verdict.ours, verdict.empty) == expected
    assert verdict.reason


def test_a_refusal_names_both_owners() -> None:
    verdict = owner_verdict(
        doc("ns/olga", OTHER_UID),
        has_objects=True,
        namespace="ns",
        account="olga",
        uid=UID,
        where="s3://b/p/",
    )
    assert OTHER_UID in verdict.reason
    assert UID in verdict.reason


def test_credentials_never_print() -> None:
    creds = Credentials("AKIAKNOWN", "sk-secret")
    assert "sk-secret" not in repr(creds)
    assert "AKIAKNOWN" not in repr(creds)
    assert "sk-secret" not in str(creds)
