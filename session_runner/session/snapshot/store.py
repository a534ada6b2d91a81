"""S3 I/O for one account's snapshots (any S3 API: AWS, MinIO, moto), synchronous boto3.

Everything here is blocking on purpose: the snapshotter runs whole
snapshots and restores in worker threads (boto3 clients are thread-safe), so
this module stays a plain, testable shell around the requests. The key
layout is in `layout.py`.

Conditional writes carry the guarantees:

* manifests and key docs are created with If-None-Match: '*' (never
  overwritten; a second writer gets 412); so is `owner.json`, which is
  changed only to bind it to an account uid or to adopt it
  (`ownership.decide_owner`), with If-Match on the ETag that decision read;
* the latest-pointer is compare-and-swap: read it and its ETag, refuse when
  it holds a higher fencing token than ours (`token_accepts`), then write
  with If-Match on that ETag (If-None-Match when absent). A 412 means
  someone wrote in between: re-read and retry once, then give up fenced.

Chunks are created with If-None-Match too (content-addressed: an object
already there is the same chunk), except a *suspect* one: when a restore or a
verification finds a chunk object corrupt it leaves an empty marker
`suspect/<chunk id>` (`mark_suspect`), and the next snapshot holding that
chunk's content uploads it again without the condition (`replace_chunk`),
repairing every manifest that references it, then removes the marker. One
extra LIST per snapshot, nearly always empty, is the whole cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from session_runner.contract import layout
from session_runner.session.lease.fencing import FencedOutError, token_accepts
from session_runner.session.snapshot.crypto import DataKey
from session_runner.session.snapshot.manifest import (
    KeyDoc,
    LatestPointer,
    Manifest,
    OwnerDoc,
    decode_manifest,
    encode_manifest,
    utcnow,
)
from session_runner.session.snapshot.ownership import Action, OwnerDecision, decide_owner


class ForeignPrefixError(Exception):
    """The account prefix already holds another account's snapshots."""


class OwnershipRefused(ForeignPrefixError):  # noqa: N818 - reads as what happened
    """The store belongs to another account (uid): its message is what the user reads."""


class SnapshotNotFound(Exception):  # noqa: N818 - reads as what happened
    """No such snapshot (or object) in the store."""


@dataclass(frozen=True)
class ChunkObject:
    size: int
    last_modified: datetime


def s3_error_code(error: Exception) -> str:
    """The S3 error code of a botocore error ("" for anything else): what callers decide on."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _status(error: Exception) -> int:
    response = getattr(error, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _precondition_failed(error: Exception) -> bool:
    return s3_error_code(error) in {"PreconditionFailed", "412"} or _status(error) == 412


def _not_found(error: Exception) -> bool:
    return s3_error_code(error) in {"NoSuchKey", "404", "NotFound"} or _status(error) == 404


class SnapshotStore:
    """One account's snapshot objects: `bucket`, under `prefix` (from `layout.account_prefix`)."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        if prefix and not prefix.endswith("/"):
            raise ValueError("prefix must end with '/' (use layout.account_prefix)")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    # ------------------------------------------------------------ plumbing

    def _get(self, key: str) -> tuple[bytes, str] | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _not_found(error):
                return None
            raise
        return response["Body"].read(), str(response["ETag"])

    def _create(self, key: str, body: bytes | bytearray) -> bool:
        """Put `body` at `key` unless something is there: False when it was."""
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
        except ClientError as error:
            if _precondition_failed(error):
                return False
            raise
        return True

    def _list(self, under: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + under):
            yield from page.get("Contents", [])

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )

    # ------------------------------------------------------------ the whole prefix

    def read_owner_doc(self) -> bytes | None:
        """owner.json as stored (None when absent), for a caller that judges it itself."""
        found = self._get(layout.owner_key(self.prefix))
        return None if found is None else found[0]

    def list_keys(self) -> list[str]:
        """Every object key under the account's prefix."""
        return [str(obj["Key"]) for obj in self._list("")]

    def delete_keys(self, keys: list[str]) -> None:
        """Delete these objects (full keys), a thousand per request."""
        self._delete(keys)

    # ------------------------------------------------------------ owner

    def claim(self, owner: str) -> None:
        """Make sure this prefix is `owner`'s by name alone (`ensure_owner` without a uid)."""
        self.ensure_owner(owner)

    def ensure_owner(
        self, owner: str, uid: str = "", adopt_uid: str | None = None
    ) -> OwnerDecision:
        """Claim, accept, bind or adopt this prefix for `owner` (uid `uid`), or refuse it.

        The decision is `ownership.decide_owner`'s; this writes what it says:
        a claim with If-None-Match, a bind or an adoption with If-Match on the
        ETag the decision was made on. A 412 means another runner wrote
        owner.json in between: decide again on what it wrote. Raises
        OwnershipRefused (a ForeignPrefixError) with the reason.
        """
        from botocore.exceptions import ClientError

        key = layout.owner_key(self.prefix)
        where = f"s3://{self.bucket}/{self.prefix}"
        for _attempt in range(3):
            found = self._get(key)
            stored = None if found is None else OwnerDoc.model_validate_json(found[0])
            decision = decide_owner(
                stored,
                has_objects=found is None and any(True for _ in self._list("")),
                owner=owner,
                uid=uid,
                adopt_uid=adopt_uid,
                where=where,
                now=utcnow(),
            )
            if decision.action is Action.REFUSE:
                raise OwnershipRefused(decision.reason)
            if decision.write is None:
                return decision
            if found is None:
                if self._create(key, decision.write.to_json()):
                    return decision
                continue
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=decision.write.to_json(), IfMatch=found[1]
                )
            except ClientError as error:
                if _precondition_failed(error) or _not_found(error):
                    continue
                raise
            return decision
        raise OwnershipRefused(f"{where}{layout.OWNER} kept changing while it was claimed")

    # ------------------------------------------------------------ chunks

    def list_chunks(self) -> dict[str, ChunkObject]:
        """Every chunk object: the index of what never needs uploading again, and GC's input."""
        start = len(self.prefix) + len(layout.CHUNKS)
        return {
            obj["Key"][start:]: ChunkObject(int(obj["Size"]), obj["LastModified"])
            for obj in self._list(layout.CHUNKS)
        }

    def put_chunk(self, chunk_id: str, blob: bytes | bytearray) -> None:
        """Chunks are content-addressed: an object already there is the same chunk."""
        self._create(layout.chunk_key(self.prefix, chunk_id), blob)

    def replace_chunk(self, chunk_id: str, blob: bytes | bytearray) -> None:
        """Upload a chunk over whatever object is there (a corrupt one: see `mark_suspect`)."""
        self.client.put_object(
            Bucket=self.bucket, Key=layout.chunk_key(self.prefix, chunk_id), Body=blob
        )

    def get_chunk(self, chunk_id: str) -> bytes:
        found = self._get(layout.chunk_key(self.prefix, chunk_id))
        if found is None:
            raise SnapshotNotFound(f"chunk {chunk_id} is missing")
        return found[0]

    def delete_chunks(self, chunk_ids: Iterable[str]) -> None:
        self._delete([layout.chunk_key(self.prefix, c) for c in chunk_ids])

    # ------------------------------------------------------------ suspect chunks

    def mark_suspect(self, chunk_id: str) -> None:
        """Record that `chunk_id`'s object failed verification: the next snapshot re-uploads it."""
        self.client.put_object(
            Bucket=self.bucket, Key=layout.suspect_key(self.prefix, chunk_id), Body=b""
        )

    def list_suspects(self) -> set[str]:
        start = len(self.prefix) + len(layout.SUSPECT)
        return {obj["Key"][start:] for obj in self._list(layout.SUSPECT)}

    def clear_suspects(self, chunk_ids: Iterable[str]) -> None:
        self._delete([layout.suspect_key(self.prefix, c) for c in chunk_ids])

    # ------------------------------------------------------------ keys

    def get_key_doc(self, key_id: str, uid: str = "") -> KeyDoc | None:
        found = self._get(layout.data_key_key(self.prefix, key_id, uid))
        return None if found is None else KeyDoc.model_validate_json(found[0])

    def create_key_doc(self, doc: KeyDoc) -> KeyDoc:
        """Store `doc` unless one exists for its key id and uid; return whichever is stored."""
        if self._create(layout.data_key_key(self.prefix, doc.key_id, doc.uid), doc.to_json()):
            return doc
        stored = self.get_key_doc(doc.key_id, doc.uid)
        if stored is None:
            raise SnapshotNotFound(f"key doc {doc.key_id} appeared and vanished")
        return stored

    # ------------------------------------------------------------ manifests

    def put_manifest(self, manifest: Manifest) -> None:
        """Write a manifest once; a retried request whose first attempt landed is fine."""
        key = layout.manifest_key(self.prefix, manifest.snapshot_id)
        body = encode_manifest(manifest)
        if self._create(key, body):
            return
        found = self._get(key)
        if found is None or found[0] != body:
            raise FileExistsError(f"manifest {manifest.snapshot_id} exists already")

    def get_manifest(self, snapshot_id: str) -> Manifest:
        found = self._get(layout.manifest_key(self.prefix, snapshot_id))
        if found is None:
            raise SnapshotNotFound(f"snapshot {snapshot_id} does not exist")
        return decode_manifest(found[0])

    def list_snapshot_ids(self) -> list[str]:
        """All manifests' snapshot ids, oldest first."""
        start = len(self.prefix) + len(layout.MANIFESTS)
        ids = [
            obj["Key"][start:].removesuffix(".json")
            for obj in self._list(layout.MANIFESTS)
            if obj["Key"].endswith(".json")
        ]
        return sorted(ids)

    def delete_manifests(self, snapshot_ids: Iterable[str]) -> None:
        self._delete([layout.manifest_key(self.prefix, s) for s in snapshot_ids])

    # ------------------------------------------------------------ latest-pointer

    def read_pointer(self) -> tuple[LatestPointer | None, str | None]:
        """The pointer and its ETag (None, None when no snapshot was ever completed)."""
        found = self._get(layout.latest_key(self.prefix))
        if found is None:
            return None, None
        return LatestPointer.model_validate_json(found[0]), found[1]

    def move_pointer(
        self, snapshot_id: str, token: int, key: DataKey | None = None
    ) -> LatestPointer:
        """Compare-and-swap the latest-pointer to `snapshot_id` under fencing `token`.

        With `key` (the data key the snapshot was written under) the pointer
        carries its MAC; a restore trusts no other pointer to a format-4 snapshot.
        """
        from botocore.exceptions import ClientError

        key_name = layout.latest_key(self.prefix)
        pointer = LatestPointer(snapshot_id=snapshot_id, fencing_token=token, written_at=utcnow())
        if key is not None:
            pointer = pointer.model_copy(update={"key_id": key.key_id, "account_uid": key.uid})
            pointer = pointer.model_copy(update={"mac": key.pointer_mac(pointer.body_for_mac())})
        for attempt in range(2):
            stored, etag = self.read_pointer()
            if stored is not None:
                if stored.snapshot_id == snapshot_id and stored.fencing_token == token:
                    return stored  # our own write landed (a retried request)
                if not token_accepts(stored.fencing_token, token):
                    raise FencedOutError(
                        f"latest-pointer holds fencing token {stored.fencing_token} > ours {token}"
                    )
            condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=key_name, Body=pointer.to_json(), **condition
                )
                return pointer
            except ClientError as error:
                if not _precondition_failed(error):
                    raise
                if attempt == 1:
                    raise FencedOutError(
                        "latest-pointer changed under us twice (another writer holds it)"
                    ) from error
        raise AssertionError("unreachable")  # pragma: no cover


def account_store(settings: Any, client: Any) -> SnapshotStore:
    """The account's store as RunnerSettings locate it (`layout.account_prefix`): the one
    place the runner's hooks, its verification and its token floor find it."""
    return SnapshotStore(
        client,
        settings.snapshot_bucket,
        layout.account_prefix(settings.snapshot_prefix, settings.namespace, settings.account_name),
    )
