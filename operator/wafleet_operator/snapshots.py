"""The operator's one storage duty: removing an account's snapshots on `deletionPolicy: Delete`.

Two rules keep the operator from being anybody's deputy:

* It deletes only with the account's own credentials Secret, read for this
  call and never logged or stored. It never falls back to its own ambient AWS
  credentials (IRSA, instance profile, environment): a user names the bucket
  and the endpoint, and with the operator's identity they could point it at
  a store only the operator may write and have it emptied. Without a
  credentials Secret there is no deletion (the caller refuses with a condition).
* It deletes a prefix only when its `owner.json` names this account: the
  account's uid, or, in a legacy doc without a uid, its `namespace/name`.
  An empty prefix has nothing to delete; a prefix with objects but no
  `owner.json`, or an `owner.json` naming anyone else, is refused, never
  emptied (the runner refuses to write into such a prefix for the same reason).

`owner.json` is deleted last, so a deletion cut short by an error leaves a
prefix the next attempt still recognises as the account's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from pydantic import ValidationError

from session_runner.contract.layout import account_prefix, owner_key
from session_runner.session.snapshot.manifest import OwnerDoc
from session_runner.session.snapshot.ownership import Action, decide_owner
from session_runner.session.snapshot.store import SnapshotStore, s3_error_code
from wafleet_operator.api import SnapshotSpec

#: S3 error codes that mean the store refused the keys themselves: retrying soon rarely helps.
CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "ExpiredToken",
        "InvalidToken",
        "AuthorizationHeaderMalformed",
    }
)
#: The bucket itself is gone: nothing of the account's can be left in it.
NO_BUCKET_CODES = frozenset({"NoSuchBucket"})


@dataclass(frozen=True)
class Credentials:
    """The account's static S3 keys, held only for one deletion; never printed."""

    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"


@dataclass(frozen=True)
class OwnerVerdict:
    """Whether the prefix may be emptied: `ours`, or `empty` (nothing to do), else `reason`."""

    ours: bool
    empty: bool
    reason: str


class ForeignStoreError(Exception):
    """The prefix is not provably this account's: refuse, never delete."""


class StoreError(Exception):
    """The store could not be used; the message names only the error's type and S3 code."""

    def __init__(self, message: str, *, credentials_refused: bool) -> None:
        super().__init__(message)
        self.credentials_refused = credentials_refused


def owner_verdict(
    stored: bytes | None,
    *,
    has_objects: bool,
    namespace: str,
    account: str,
    uid: str,
    where: str,
) -> OwnerVerdict:
    """Pure: may `where` (the account's prefix) be deleted, given its owner.json?

    `stored` is owner.json's bytes (None when absent), `has_objects` whether
    the prefix holds anything at all. The runner's own ownership rule decides
    (`session_runner.session.snapshot.ownership.decide_owner`, with no adoption): the
    prefix is this account's exactly when its runner would accept or bind it,
    so the two sides can never disagree about whose store it is.
    """
    try:
        doc = OwnerDoc.model_validate_json(stored) if stored is not None else None
    except ValidationError:
        return OwnerVerdict(False, False, f"{where}owner.json is not an owner document")
    decision = decide_owner(
        doc,
        has_objects=has_objects,
        owner=f"{namespace}/{account}",
        uid=uid,
        adopt_uid=None,
        where=where,
        now=_NEVER_WRITTEN,
    )
    if decision.action is Action.CLAIM:
        return OwnerVerdict(False, True, f"{where} is empty")
    if decision.action in (Action.ACCEPT, Action.BIND):
        return OwnerVerdict(True, False, decision.reason)
    return OwnerVerdict(False, False, decision.reason)


#: decide_owner dates the owner.json it would write; deletion writes none.
_NEVER_WRITTEN = datetime(1970, 1, 1, tzinfo=UTC)


def _safe_error(error: Exception) -> StoreError:
    """A StoreError naming the error's type and S3 code only: boto3 messages may echo
    request details, and nothing of the credentials may reach a log or an event."""
    code = s3_error_code(error)
    text = f"{type(error).__name__}{f' {code}' if code else ''}"
    return StoreError(text, credentials_refused=code in CREDENTIAL_CODES)


def _delete_prefix(
    client_kwargs: dict[str, Any],
    bucket: str,
    prefix: str,
    namespace: str,
    account: str,
    uid: str,
) -> int:
    store = SnapshotStore(boto3.client("s3", **client_kwargs), bucket, prefix)
    where = f"s3://{bucket}/{prefix}"
    owner_doc_key = owner_key(prefix)
    stored = store.read_owner_doc()
    keys = store.list_keys()
    verdict = owner_verdict(
        stored,
        has_objects=bool(keys),
        namespace=namespace,
        account=account,
        uid=uid,
        where=where,
    )
    if verdict.empty:
        return 0
    if not verdict.ours:
        raise ForeignStoreError(verdict.reason)
    store.delete_keys([k for k in keys if k != owner_doc_key])
    store.delete_keys([owner_doc_key])
    return len(keys)


async def delete_account_snapshots(
    snapshot: SnapshotSpec,
    namespace: str,
    account: str,
    uid: str,
    credentials: Credentials,
) -> int:
    """Delete every object under the account's prefix with the account's own keys.

    Returns how many objects were deleted (0 when the prefix or the bucket is
    empty or gone). Raises ForeignStoreError when owner.json does not name this
    account, StoreError (with a message free of secrets) when the store failed.
    """
    kwargs: dict[str, Any] = {
        "region_name": snapshot.region,
        # Explicit keys: boto3 then consults no other source (environment, profile,
        # instance metadata), so the operator's own identity is never used here.
        "aws_access_key_id": credentials.access_key_id,
        "aws_secret_access_key": credentials.secret_access_key,
        "aws_session_token": None,
    }
    if snapshot.endpoint:
        kwargs["endpoint_url"] = str(snapshot.endpoint)
    prefix = account_prefix(snapshot.prefix, namespace, account)
    try:
        return await asyncio.to_thread(
            _delete_prefix, kwargs, snapshot.bucket, prefix, namespace, account, uid
        )
    except ForeignStoreError:
        raise
    except Exception as error:  # boto3 raises many types; name none of the secrets
        if s3_error_code(error) in NO_BUCKET_CODES:
            return 0
        raise _safe_error(error) from None
