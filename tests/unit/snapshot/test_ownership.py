"""Table test of whose store this is: claim, accept, bind, adopt or refuse (ownership.decide_owner)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from session_runner.session.snapshot.manifest import OwnerDoc
from session_runner.session.snapshot.ownership import Action, decide_owner

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
THEN = datetime(2026, 1, 1, tzinfo=UTC)
WHERE = "s3://b/p/"
OLD = "11111111-1111-4111-8111-111111111111"
NEW = "22222222-2222-4222-8222-222222222222"
OTHER = "33333333-3333-4333-8333-333333333333"
ME = "ns/alice"


def doc(owner: str = ME, uid: str = "") -> OwnerDoc:
    return OwnerDoc(owner=owner, uid=uid, created_at=THEN)


@pytest.mark.parametrize(
    ("case", "stored", "has_objects", "uid", "adopt", "action", "writes_uid", "restorable", "says"),
    [
        ("fresh prefix", None, False, NEW, None, Action.CLAIM, NEW, {"", NEW}, "claimed"),
        ("fresh, by hand", None, False, "", None, Action.CLAIM, "", {""}, "claimed"),
        (
            "objects without an owner",
            None,
            True,
            NEW,
            None,
            Action.REFUSE,
            None,
            set(),
            "holds objects but no owner.json",
        ),
        ("ours", doc(uid=NEW), False, NEW, None, Action.ACCEPT, NEW, {"", NEW}, "ours"),
        (
            "legacy doc, our name: bound (the upgrade path)",
            doc(),
            True,
            NEW,
            None,
            Action.BIND,
            NEW,
            {"", NEW},
            "bound",
        ),
        (
            "recreated account: refused, naming both uids and the field",
            doc(uid=OLD),
            True,
            NEW,
            None,
            Action.REFUSE,
            None,
            set(),
            f"{WHERE} belongs to account uid {OLD}; this account is uid {NEW}. "
            f"To take over a retained backup set spec.snapshot.adoptFromUid: {OLD}",
        ),
        (
            "recreated account adopting the old uid",
            doc(uid=OLD),
            True,
            NEW,
            OLD,
            Action.ADOPT,
            NEW,
            {"", NEW, OLD},
            f"adopted {WHERE} from account {ME} uid {OLD}",
        ),
        (
            "adopted already, the field still set",
            doc(uid=NEW),
            True,
            NEW,
            OLD,
            Action.ACCEPT,
            NEW,
            {"", NEW, OLD},
            "ours",
        ),
        (
            "adoptFromUid naming a third uid",
            doc(uid=OLD),
            True,
            NEW,
            OTHER,
            Action.REFUSE,
            None,
            set(),
            f"adoptFromUid names {OTHER}, not {OLD}",
        ),
        (
            "another name",
            doc(owner="ns/bob", uid=OLD),
            True,
            NEW,
            None,
            Action.REFUSE,
            None,
            set(),
            "belongs to 'ns/bob', not 'ns/alice'",
        ),
        (
            "another name, adopted by its uid",
            doc(owner="ns/bob", uid=OLD),
            True,
            NEW,
            OLD,
            Action.ADOPT,
            NEW,
            {"", NEW, OLD},
            "adopted",
        ),
        (
            "by hand on a bound store: name only, writes as the bound uid",
            doc(uid=OLD),
            True,
            "",
            None,
            Action.ACCEPT,
            OLD,
            {"", OLD},
            "checked by name only",
        ),
        (
            "by hand on another name",
            doc(owner="ns/bob"),
            True,
            "",
            None,
            Action.REFUSE,
            None,
            set(),
            "belongs to 'ns/bob'",
        ),
        (
            "a uid that is not one",
            None,
            False,
            "../x",
            None,
            Action.REFUSE,
            None,
            set(),
            "WAFLEET_ACCOUNT_UID",
        ),
        (
            "an adoptFromUid that is not one",
            doc(uid=OLD),
            True,
            NEW,
            "x/y",
            Action.REFUSE,
            None,
            set(),
            "spec.snapshot.adoptFromUid 'x/y' is not a Kubernetes uid",
        ),
    ],
)
def test_decide_owner(
    case: str,
    stored: OwnerDoc | None,
    has_objects: bool,
    uid: str,
    adopt: str | None,
    action: Action,
    writes_uid: str | None,
    restorable: set[str],
    says: str,
) -> None:
    decision = decide_owner(
        stored, has_objects=has_objects, owner=ME, uid=uid, adopt_uid=adopt, where=WHERE, now=NOW
    )
    assert decision.action is action, case
    assert says in decision.reason, case
    assert decision.restorable == restorable, case
    if action is Action.REFUSE:
        assert decision.write is None, case
        return
    assert decision.uid == writes_uid, case
    if action is Action.ACCEPT:
        assert decision.write is None, case
    else:  # claim, bind, adopt: the doc written names us and our uid
        assert decision.write is not None, case
        assert (decision.write.owner, decision.write.uid) == (ME, uid), case
    if action is Action.BIND:  # the upgrade keeps when the prefix was first claimed
        assert decision.write is not None
        assert decision.write.created_at == THEN
