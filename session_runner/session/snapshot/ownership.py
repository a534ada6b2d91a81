"""Pure: whose snapshot store is this, and what may this runner do with it.

An account's store (`layout.account_prefix`) is named after the account's
namespace and name, so an account deleted with `deletionPolicy: Retain` and
created again under the same name lands on its predecessor's snapshots.
`owner.json` (`manifest.OwnerDoc`) records the account's uid beside its name,
and `decide_owner` compares it with the runner's before any restore and
before every snapshot:

* no owner doc, empty prefix: **claim** it (create, If-None-Match);
* our name and our uid: **accept**;
* our name, no uid in the doc (written before uids were recorded, or by a
  runner started by hand): **bind** it to our uid (the upgrade path;
  a conditional write, If-Match on the doc's ETag);
* another uid that `spec.snapshot.adoptFromUid` names: **adopt** it (rebind
  to our uid, If-Match): taking over a retained backup is a real need, and
  naming the old uid is the explicit opt-in;
* anything else: **refuse**, with a reason the user reads in the account's
  status (it names both uids and the field that would adopt the store).

A runner started by hand has no uid (`account_uid` ""): it keeps the
name-only check and writes as the uid already bound, so a store it shares
with the operator-run runner stays readable by both.

`restorable` is the set of manifest `account_uid`s a restore accepts: the
bound uid, "" (format-4 manifests of a runner started by hand, which predate
the binding like formats 1-3 do), and the adopted uid while
`adoptFromUid` names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from session_runner.session.snapshot.manifest import OwnerDoc

#: What a Kubernetes uid looks like, generously (it goes into object keys and AAD).
_UID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,127}$")

ADOPT_FIELD = "spec.snapshot.adoptFromUid"


class Action(StrEnum):
    CLAIM = "claim"
    ACCEPT = "accept"
    BIND = "bind"
    ADOPT = "adopt"
    REFUSE = "refuse"


@dataclass(frozen=True)
class OwnerDecision:
    """What to do with the store, and the uid this runner then writes and reads under."""

    action: Action
    uid: str
    restorable: frozenset[str]
    reason: str
    write: OwnerDoc | None = None  # the doc to store (claim: create; bind, adopt: If-Match)


def check_uid(value: str, field: str) -> str:
    """`value` when it can be an account uid; ValueError naming `field` otherwise."""
    if value and not _UID.match(value):
        raise ValueError(f"{field} {value!r} is not a Kubernetes uid (letters, digits, '-')")
    return value


def restorable_uids(uid: str, adopt_uid: str | None) -> frozenset[str]:
    """Manifest account_uids a restore by `uid` accepts (see the module docstring)."""
    return frozenset({"", uid} | ({adopt_uid} if adopt_uid else set()))


def decide_owner(
    stored: OwnerDoc | None,
    *,
    has_objects: bool,
    owner: str,
    uid: str,
    adopt_uid: str | None,
    where: str,
    now: datetime,
) -> OwnerDecision:
    """Claim, accept, bind, adopt or refuse the store at `where` (e.g. `s3://bucket/prefix/`).

    `stored` is owner.json (None when absent), `has_objects` whether the
    prefix holds anything (looked at only without owner.json), `owner` our
    `namespace/name`, `uid` our metadata.uid ("" for a runner started by
    hand), `adopt_uid` spec.snapshot.adoptFromUid.
    """
    adopt = adopt_uid or None
    for value, field in ((uid, "the account uid (WAFLEET_ACCOUNT_UID)"), (adopt, ADOPT_FIELD)):
        try:
            check_uid(value or "", field)
        except ValueError as error:
            return _refuse(uid, str(error))
    if stored is None:
        if has_objects:
            return _refuse(
                uid,
                f"{where} holds objects but no owner.json: refusing to mix this account's "
                "snapshots into it",
            )
        doc = OwnerDoc(owner=owner, uid=uid, created_at=now)
        return OwnerDecision(
            Action.CLAIM, uid, restorable_uids(uid, adopt), f"claimed {where}", doc
        )
    if uid and adopt is not None and stored.uid and stored.uid == adopt and stored.uid != uid:
        doc = OwnerDoc(owner=owner, uid=uid, created_at=now)
        return OwnerDecision(
            Action.ADOPT,
            uid,
            restorable_uids(uid, adopt),
            f"adopted {where} from account {stored.owner} uid {stored.uid} ({ADOPT_FIELD})",
            doc,
        )
    if stored.owner != owner:
        return _refuse(uid, f"{where} belongs to {stored.owner!r}, not {owner!r}")
    if not uid:  # started by hand: the name is all we know; act as the bound account
        return OwnerDecision(
            Action.ACCEPT,
            stored.uid,
            restorable_uids(stored.uid, adopt),
            f"{where} is {owner}'s (no account uid given: checked by name only)",
        )
    if not stored.uid:
        doc = stored.model_copy(update={"uid": uid})
        return OwnerDecision(
            Action.BIND,
            uid,
            restorable_uids(uid, adopt),
            f"bound {where} (owner.json without a uid) to account uid {uid}",
            doc,
        )
    if stored.uid == uid:
        return OwnerDecision(Action.ACCEPT, uid, restorable_uids(uid, adopt), f"{where} is ours")
    named = f" ({ADOPT_FIELD} names {adopt}, not {stored.uid})" if adopt is not None else ""
    return _refuse(
        uid,
        f"{where} belongs to account uid {stored.uid}; this account is uid {uid}{named}. "
        f"To take over a retained backup set {ADOPT_FIELD}: {stored.uid}",
    )


def _refuse(uid: str, reason: str) -> OwnerDecision:
    return OwnerDecision(Action.REFUSE, uid, frozenset(), reason)
