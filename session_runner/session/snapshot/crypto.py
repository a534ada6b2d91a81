"""Chunk and key encryption: zstd, then AES-256-GCM; a long-lived account data key per KEK.

The scheme, and why:

* The key-encryption key (KEK) comes from the account's Secret, mounted as a
  file (32 raw bytes, or their base64). Its id is the first 16 hex digits of
  sha256(KEK); ids name KEKs in manifests, so a `KeyRing` holding several
  KEKs restores snapshots taken under any of them (rotation).
* Per account and KEK there is one random 256-bit data key (DEK), stored once
  under `keys/<key id>.json` wrapped by the KEK (AES-256-GCM, the key id as
  associated data) and copied into every manifest. A per-snapshot data key
  would make every snapshot's ciphertext different and defeat dedupe; a
  long-lived DEK lets an unchanged chunk keep its object, so it is never
  uploaded again.
* Rotating the KEK starts a new DEK (the new key id has no `keys/` document
  yet): the first snapshot after a rotation uploads everything once, and no
  data written after the rotation depends on the retired KEK.
* The DEK is bound to the account's uid (manifest format 4): the wrap's
  associated data holds the uid, and the key doc is
  `keys/<key id>.<uid>.json`, so an account recreated under the same name, or
  one that adopts a retained store, starts a DEK of its own (fresh chunk
  ids: no chunk sealed for the old uid is reused for the new one). An empty
  uid (a runner started by hand, and every store before format 4) keeps the
  original wrap and `keys/<key id>.json`.
* From the DEK, HKDF-SHA256 derives four keys: the chunk-id key, the chunk
  encryption key, the manifest MAC key and the latest-pointer MAC key.
* Chunk id = keyed BLAKE3(chunk-id key, plaintext) (`IdScheme.BLAKE3`,
  manifest format 3). Content-addressed (same plaintext, same id, so dedupe
  works) without the bucket revealing plaintext hashes (anyone could
  otherwise test for known content). BLAKE3's keyed mode is a MAC by design,
  and it hashes at ~6 GB/s on one core here where SHA-256 (with the CPU's SHA
  extensions) does 1.7: every snapshot hashes every captured byte, and every
  restore hashes every restored byte again to verify it (234 MB on the
  benchmark's profile: 0.14 s of CPU with SHA-256, 0.04 s with BLAKE3).
  Manifests of formats 1 and 2 named chunks by HMAC-SHA256(chunk-id key,
  sha256(plaintext)) (`IdScheme.HMAC_SHA256`); they stay restorable, and
  the first format-3 snapshot after an upgrade uploads every chunk once.
* A chunk object is `WFC1 || nonce(12) || AES-256-GCM(zstd(plaintext))`,
  with a random 96-bit nonce and the chunk id (and, under a uid-bound key,
  the uid) as associated data (`chunk_aad`: an object moved under another id,
  or into another account, fails to decrypt). Random nonces under one key are
  safe far beyond any account's chunk count (the 2^32-message bound).
* zstd level 1 (`ZSTD_LEVEL`): on IndexedDB-like records it is both faster
  and smaller than level 3 (0.562 vs 0.572 of the plaintext on the
  benchmark's tables, ~2x the speed); levels up to 19 gain <1 % for 100x
  the CPU. Incompressible chunks (media blobs) are not worth
  special-casing: zstd passes them through at >3 GB/s with 0.004 % overhead.
  The decompressor reads any level, so the level can change freely.
* Opening a chunk verifies all of it: the GCM tag, the decompressed size, and
  that the plaintext's id (under the manifest's scheme) is the one asked
  for. moto (and a faulty disk) do not check upload checksums; we do.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import blake3
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from session_runner.contract.keyrule import decode_kek, kek_length_problem

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
ZSTD_LEVEL = 1
CHUNK_MAGIC = b"WFC1"


class IdScheme(StrEnum):
    """How a chunk's id is computed from its plaintext (see the module docstring)."""

    BLAKE3 = "blake3-keyed"  # manifest format 3
    HMAC_SHA256 = "hmac-sha256"  # manifest formats 1 and 2


class KeyRingError(Exception):
    """A key is missing, malformed, or does not open what it should."""


class ChunkCorrupt(Exception):  # noqa: N818 - reads as what happened
    """A chunk object failed verification: wrong tag, size, or content hash."""


def parse_kek(raw: bytes, *, source: str = "the key") -> bytes:
    """The KEK `raw` holds, by the one rule the operator checks too (`session_runner.contract.keyrule`)."""
    key = decode_kek(raw)
    if key is None:
        raise KeyRingError(f"{source} {kek_length_problem(raw)}")
    return key


def load_kek(path: Path) -> bytes:
    """The KEK in the file mounted from the account's encryption-key Secret."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise KeyRingError(f"cannot read the encryption key file {path}: {error}") from error
    return parse_kek(raw, source=f"the encryption key file {path}")


def key_id(kek: bytes) -> str:
    """First 16 hex digits of sha256(KEK): names the KEK without revealing it."""
    return hashlib.sha256(kek).hexdigest()[:16]


@dataclass(frozen=True)
class KeyRing:
    """The KEKs this runner can unwrap with, by id; `current` wraps new data keys."""

    current: bytes
    older: tuple[bytes, ...] = ()
    _by_id: dict[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = {key_id(k): k for k in (*self.older, self.current)}
        object.__setattr__(self, "_by_id", keys)

    @classmethod
    def from_keys(cls, current: bytes, older: Iterable[bytes] = ()) -> KeyRing:
        return cls(parse_kek(current), tuple(parse_kek(k) for k in older))

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self._by_id)

    def kek(self, kid: str) -> bytes:
        try:
            return self._by_id[kid]
        except KeyError:
            raise KeyRingError(
                f"no key-encryption key with id {kid} in the key ring (have {sorted(self._by_id)})"
            ) from None


def _wrap_aad(kid: str, uid: str) -> bytes:
    """The wrap's associated data: the KEK's id, and the account uid when there is one."""
    if not uid:
        return b"wafleet-dek-v1:" + kid.encode()
    return b"wafleet-dek-v2:" + kid.encode() + b":" + uid.encode()


def chunk_aad(chunk_id: str, uid: str) -> bytes:
    """A chunk's associated data: its id, and the account uid its key is bound to.

    Without a uid it is the id alone, as before format 4: a key without a uid
    is the pre-format-4 key, and its chunks must keep opening.
    """
    if not uid:
        return chunk_id.encode()
    return chunk_id.encode() + b"\0account:" + uid.encode()


def wrap_data_key(kek: bytes, dek: bytes, uid: str = "") -> str:
    """base64(nonce || AES-256-GCM(KEK, DEK)), bound to the KEK's id and the account uid."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(kek).encrypt(nonce, dek, _wrap_aad(key_id(kek), uid))
    return base64.b64encode(nonce + sealed).decode()


def unwrap_data_key(kek: bytes, wrapped: str, uid: str = "") -> bytes:
    try:
        blob = base64.b64decode(wrapped, validate=True)
        dek = AESGCM(kek).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _wrap_aad(key_id(kek), uid)
        )
    except (binascii.Error, ValueError, InvalidTag) as error:
        bound = f" for account uid {uid}" if uid else ""
        raise KeyRingError(
            f"the wrapped data key does not open with key {key_id(kek)}{bound}"
        ) from error
    if len(dek) != KEY_BYTES:
        raise KeyRingError("the wrapped data key has the wrong length")
    return dek


def _derive(dek: bytes, label: bytes) -> bytes:
    return HKDF(hashes.SHA256(), KEY_BYTES, salt=None, info=b"wafleet/" + label).derive(dek)


@dataclass(frozen=True)
class DataKey:
    """An account's data key under one KEK, bound to the account `uid`, with its derived keys."""

    key_id: str
    wrapped: str
    dek: bytes = field(repr=False)
    uid: str = ""
    _id_key: bytes = field(init=False, repr=False)
    _enc_key: bytes = field(init=False, repr=False)
    _mac_key: bytes = field(init=False, repr=False)
    _pointer_key: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_id_key", _derive(self.dek, b"chunk-id"))
        object.__setattr__(self, "_enc_key", _derive(self.dek, b"chunk-enc"))
        object.__setattr__(self, "_mac_key", _derive(self.dek, b"manifest-mac"))
        object.__setattr__(self, "_pointer_key", _derive(self.dek, b"latest-pointer-mac"))

    @classmethod
    def generate(cls, kek: bytes, uid: str = "") -> DataKey:
        dek = os.urandom(KEY_BYTES)
        return cls(key_id(kek), wrap_data_key(kek, dek, uid), dek, uid)

    @classmethod
    def unwrap(cls, kek: bytes, wrapped: str, uid: str = "") -> DataKey:
        return cls(key_id(kek), wrapped, unwrap_data_key(kek, wrapped, uid), uid)

    def chunk_id(self, plain: bytes | memoryview, scheme: IdScheme = IdScheme.BLAKE3) -> str:
        """The content address of `plain`: 64 hex digits, keyed so the bucket learns nothing."""
        if scheme is IdScheme.BLAKE3:
            return blake3.blake3(plain, key=self._id_key).hexdigest()
        return hmac.new(self._id_key, hashlib.sha256(plain).digest(), hashlib.sha256).hexdigest()

    def seal_chunk(self, plain: bytes, chunk_id: str) -> bytearray:
        """The chunk object: encrypted straight into one buffer (no copy of the ciphertext)."""
        compressed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(plain)
        nonce = os.urandom(NONCE_BYTES)
        head = len(CHUNK_MAGIC) + NONCE_BYTES
        blob = bytearray(head + len(compressed) + TAG_BYTES)
        blob[:head] = CHUNK_MAGIC + nonce
        AESGCM(self._enc_key).encrypt_into(
            nonce, compressed, chunk_aad(chunk_id, self.uid), memoryview(blob)[head:]
        )
        return blob

    def open_chunk(
        self,
        blob: bytes | bytearray,
        chunk_id: str,
        plain_size: int,
        scheme: IdScheme = IdScheme.BLAKE3,
    ) -> bytes:
        """The verified plaintext of a chunk object, or ChunkCorrupt."""
        plain = bytearray(plain_size)
        self.open_chunk_into(blob, chunk_id, memoryview(plain), bytearray(), scheme)
        return bytes(plain)

    def open_chunk_into(
        self,
        blob: bytes | bytearray,
        chunk_id: str,
        plain: memoryview,
        scratch: bytearray,
        scheme: IdScheme = IdScheme.BLAKE3,
    ) -> None:
        """Fill `plain` (exactly the chunk's size) with its verified plaintext, or ChunkCorrupt.

        Into the caller's buffers, not new ones: a restore opens hundreds of
        MB of chunks, and a fresh multi-MiB buffer per chunk is a fresh set of
        pages to fault in (on the benchmark machine, that made decryption run
        at 3.4 GB/s instead of 24 and decompression at 0.6 instead of 1.7).
        `scratch` holds the compressed bytes; it grows when too small, so size
        it `max_compressed_size(largest chunk)` up front where it is reused
        (a buffer still exported, say by a failed attempt's traceback, cannot
        grow). An object too large to be any compression of the chunk is
        refused before `scratch` is touched.
        """
        head = len(CHUNK_MAGIC)
        if blob[:head] != CHUNK_MAGIC:
            raise ChunkCorrupt(f"chunk {chunk_id}: not a wafleet chunk object")
        sealed = memoryview(blob)[head + NONCE_BYTES :]
        if len(sealed) < TAG_BYTES:
            raise ChunkCorrupt(f"chunk {chunk_id}: truncated")
        compressed_size = len(sealed) - TAG_BYTES
        if compressed_size > max_compressed_size(len(plain)):
            raise ChunkCorrupt(
                f"chunk {chunk_id}: {compressed_size} bytes, more than any compression "
                f"of {len(plain)} bytes"
            )
        if len(scratch) < compressed_size:
            scratch.extend(bytes(compressed_size - len(scratch)))
        compressed = memoryview(scratch)[:compressed_size]
        try:
            AESGCM(self._enc_key).decrypt_into(
                blob[head : head + NONCE_BYTES], sealed, chunk_aad(chunk_id, self.uid), compressed
            )
            filled = _decompress_into(compressed, plain)
        except (InvalidTag, zstandard.ZstdError, ValueError) as error:
            raise ChunkCorrupt(f"chunk {chunk_id}: {type(error).__name__}") from error
        if filled != len(plain):
            raise ChunkCorrupt(f"chunk {chunk_id}: {filled} bytes, manifest says {len(plain)}")
        if not hmac.compare_digest(self.chunk_id(plain, scheme), chunk_id):
            raise ChunkCorrupt(f"chunk {chunk_id}: content hash does not match its id")

    def mac(self, body: bytes) -> str:
        """Authenticates a manifest: the bucket holds it, so a bucket writer could edit it."""
        return hmac.new(self._mac_key, body, hashlib.sha256).hexdigest()

    def pointer_mac(self, body: bytes) -> str:
        """Authenticates the latest-pointer (a key of its own: a manifest MAC is never one)."""
        return hmac.new(self._pointer_key, body, hashlib.sha256).hexdigest()


def max_compressed_size(plain_size: int) -> int:
    """zstd's ZSTD_COMPRESSBOUND: no frame of `plain_size` bytes compresses to more."""
    small = (128 * 1024 - plain_size) >> 11 if plain_size < 128 * 1024 else 0
    return plain_size + (plain_size >> 8) + small


def _decompress_into(compressed: memoryview, plain: memoryview) -> int:
    """Decompress one zstd frame into `plain`; the bytes it holds, or len(plain) + 1 when longer."""
    reader = zstandard.ZstdDecompressor().stream_reader(compressed)
    filled = 0
    while filled < len(plain):
        n = reader.readinto(plain[filled:])
        if not n:
            return filled
        filled += n
    return filled + 1 if reader.readinto(bytearray(1)) else filled
