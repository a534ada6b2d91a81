"""The documents a snapshot writes: one manifest per snapshot, the latest-pointer, the key doc.

A manifest lists everything a restore needs (files, modes, sizes, chunk ids
in order) and everything an operator asks about (engine, token, time,
totals). It is written once (If-None-Match) and never changed; `mac`
authenticates it with a key derived from the data key, so a bucket writer
cannot rearrange files or chunks unnoticed. Snapshot ids sort by time: a
UTC timestamp plus random digits, so two runners never collide.

Manifest format 4 (this version) records the account's uid (`account_uid`):
the MAC covers it, the data key is wrapped bound to it and every chunk is
sealed with it as associated data (`crypto`), so a snapshot copied from
another account's prefix, or restored by a recreated account with a new uid,
is refused (`restore.check_account`). Formats 1-3 have no uid; their MAC body
is what it always was (`body_for_mac` leaves the field out), so they stay
restorable.

Manifest format 3 names chunks by keyed BLAKE3 of their plaintext; formats 1 and 2 named them by HMAC-SHA256 of the plaintext's
SHA-256 (`crypto.IdScheme`, `id_scheme`); a restore verifies each chunk
under its manifest's scheme, so older snapshots stay restorable.

Manifest format 2 and later are stored zstd-compressed (`encode_manifest`):
most of a manifest is chunk ids in hex, and a new manifest is part of every
incremental snapshot's upload (~25 KB of JSON became ~11 KB on the benchmark's
profile). The MAC covers the uncompressed JSON, as before. `decode_manifest`
also reads format 1 (plain JSON), though nothing written by format 1 was
ever released; immutable files may use larger chunks than `chunk_size` since
format 2 (`immutable_chunk_size`); a restore never needs either, it adds up
the chunks' sizes.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Literal

import zstandard
from pydantic import BaseModel, ConfigDict, Field

from session_runner.session.snapshot.crypto import IdScheme


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class ChunkRef(_Doc):
    id: str = Field(description="Keyed hash of the plaintext (crypto.DataKey.chunk_id).")
    size: int = Field(ge=0, description="Plaintext bytes.")
    stored_size: int = Field(ge=0, description="Bytes of the encrypted object.")


class FileRecord(_Doc):
    path: str = Field(description="POSIX path relative to the session dir.")
    mode: int = Field(ge=0, le=0o7777)
    size: int = Field(ge=0)
    mtime_ns: int
    chunks: list[ChunkRef]


class Totals(_Doc):
    files: int = 0
    bytes: int = Field(default=0, description="Plaintext bytes of all files.")
    stored_bytes: int = Field(default=0, description="Bytes of all referenced chunk objects.")
    chunks: int = 0
    chunks_new: int = 0
    bytes_uploaded: int = 0


class Manifest(_Doc):
    format: Literal[1, 2, 3, 4] = 4
    snapshot_id: str
    engine: str
    engine_version: str = ""
    fencing_token: int = Field(ge=0)
    created_at: datetime
    key_id: str
    wrapped_data_key: str
    chunk_size: int = Field(description="Chunk size of files that change in place or grow.")
    immutable_chunk_size: int = Field(
        default=0, description="Chunk size of immutable (hard-linked) files; 0: `chunk_size`."
    )
    files: list[FileRecord]
    totals: Totals
    mac: str = ""
    account_uid: str = Field(
        default="",
        description="Format 4: the uid of the account that wrote it ('' from a runner started "
        "by hand); the data key and every chunk are bound to it.",
    )

    @property
    def id_scheme(self) -> IdScheme:
        """How this manifest's chunk ids were computed (what a restore verifies them with)."""
        return IdScheme.BLAKE3 if self.format >= 3 else IdScheme.HMAC_SHA256

    @property
    def bound_uid(self) -> str:
        """The uid the data key and chunks are bound to: '' before format 4 (no binding)."""
        return self.account_uid if self.format >= 4 else ""

    def body_for_mac(self) -> bytes:
        """The canonical bytes the MAC covers: everything but the MAC.

        Before format 4 there was no `account_uid`: leaving it out keeps those
        manifests' MAC body byte for byte what their writer authenticated.
        """
        blank = self.model_copy(update={"mac": ""})
        if self.format < 4:
            return blank.model_dump_json(exclude={"account_uid"}).encode()
        return blank.to_json()


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MANIFEST_ZSTD_LEVEL = 9  # a few tens of KB: any level is instant, and it is uploaded every time


def encode_manifest(manifest: Manifest) -> bytes:
    """The stored form of a manifest: its JSON, zstd-compressed."""
    return zstandard.ZstdCompressor(level=MANIFEST_ZSTD_LEVEL).compress(manifest.to_json())


def decode_manifest(raw: bytes) -> Manifest:
    """A stored manifest (format 2 or 3, compressed; or format 1, plain JSON); else ValueError."""
    if raw[:4] == _ZSTD_MAGIC:
        try:
            raw = zstandard.ZstdDecompressor().decompress(raw, max_output_size=256 << 20)
        except zstandard.ZstdError as error:
            raise ValueError(f"manifest does not decompress: {error}") from error
    return Manifest.model_validate_json(raw)


class LatestPointer(_Doc):
    """Which snapshot restores by default, and the highest fencing token that moved it.

    `mac` (since manifest format 4) authenticates the other fields with a key
    derived from the data key `key_id` names for `account_uid`
    (`crypto.DataKey.pointer_mac`): a restore trusts the pointer's choice of
    snapshot only when it verifies (`restore.pointer_distrust`). The token is
    read without a key where only fencing needs it: a forged higher token only
    stops writers, it never makes an older one win.
    """

    snapshot_id: str
    fencing_token: int = Field(ge=0)
    written_at: datetime
    key_id: str = ""
    account_uid: str = ""
    mac: str = ""

    def body_for_mac(self) -> bytes:
        """Snapshot id, token, time, key id and uid: everything but the MAC."""
        return self.model_copy(update={"mac": ""}).to_json()


class KeyDoc(_Doc):
    """The account data key wrapped by one KEK (`layout.data_key_key`), written once."""

    key_id: str
    wrapped_data_key: str
    created_at: datetime
    uid: str = Field(default="", description="The account uid the wrap is bound to.")


class OwnerDoc(_Doc):
    """Who owns an account prefix (`owner.json`).

    `owner` is the account's `namespace/name`; `uid` its metadata.uid, so a
    recreated account under the same name is told apart from its predecessor
    ("" in a legacy doc, or when a runner started by hand claimed the prefix).
    """

    owner: str
    created_at: datetime
    uid: str = ""


def new_snapshot_id(now: datetime | None = None) -> str:
    """`20260123T104501.123456Z-1a2b3c4d`: sorts by creation time, unique by its random tail."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S.%f}Z-{os.urandom(4).hex()}"


def utcnow() -> datetime:
    return datetime.now(UTC)
