"""Chunking and chunk encryption: round trips (property-based), tampering, keys and rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

import blake3
import pytest
import zstandard
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from session_runner.session.snapshot.chunks import iter_chunks
from session_runner.session.snapshot.crypto import (
    ChunkCorrupt,
    DataKey,
    IdScheme,
    KeyRing,
    KeyRingError,
    key_id,
    load_kek,
    max_compressed_size,
    parse_kek,
    unwrap_data_key,
)

KEK1 = bytes(range(32))
KEK2 = bytes(range(1, 33))
KEY = DataKey.generate(KEK1)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=5000), chunk_size=st.integers(min_value=1, max_value=700))
def test_chunk_seal_open_round_trip(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, chunk_size: int
) -> None:
    path = tmp_path_factory.mktemp("rt") / "f"
    path.write_bytes(data)
    rebuilt = b""
    for plain in iter_chunks(path, chunk_size):
        assert 0 < len(plain) <= chunk_size
        cid = KEY.chunk_id(plain)
        blob = KEY.seal_chunk(plain, cid)
        rebuilt += KEY.open_chunk(blob, cid, len(plain))
    assert rebuilt == data


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=1, max_size=2000), flip=st.integers(min_value=0))
def test_any_flipped_byte_is_caught(data: bytes, flip: int) -> None:
    cid = KEY.chunk_id(data)
    blob = bytearray(KEY.seal_chunk(data, cid))
    blob[flip % len(blob)] ^= 0x01
    with pytest.raises(ChunkCorrupt):
        KEY.open_chunk(bytes(blob), cid, len(data))


@pytest.mark.parametrize("scheme", list(IdScheme))
def test_chunk_ids_are_keyed_and_deterministic(scheme: IdScheme) -> None:
    cid = KEY.chunk_id(b"hello", scheme)
    assert len(cid) == 64
    assert KEY.chunk_id(b"hello", scheme) == cid
    assert KEY.chunk_id(memoryview(bytearray(b"hello")), scheme) == cid
    assert KEY.chunk_id(b"hellp", scheme) != cid
    assert DataKey.generate(KEK1).chunk_id(b"hello", scheme) != cid  # another account's key
    # no plaintext hash leaks: neither plain hash of the content is the id
    assert cid not in {hashlib.sha256(b"hello").hexdigest(), blake3.blake3(b"hello").hexdigest()}


def test_the_two_schemes_name_the_same_content_differently() -> None:
    """Format-3 ids are keyed BLAKE3, format-1/2 ids HMAC-SHA256 of the SHA-256; known vectors."""
    dek = bytes(range(32))
    key = DataKey("k", "w", dek)
    id_key = HKDF(hashes.SHA256(), 32, salt=None, info=b"wafleet/chunk-id").derive(dek)
    assert key.chunk_id(b"abc") == blake3.blake3(b"abc", key=id_key).hexdigest()
    legacy = hmac.new(id_key, hashlib.sha256(b"abc").digest(), hashlib.sha256).hexdigest()
    assert key.chunk_id(b"abc", IdScheme.HMAC_SHA256) == legacy


def test_a_chunk_opens_only_under_the_scheme_its_id_was_made_with() -> None:
    plain = b"session state" * 50
    legacy_id = KEY.chunk_id(plain, IdScheme.HMAC_SHA256)
    blob = KEY.seal_chunk(plain, legacy_id)
    assert KEY.open_chunk(blob, legacy_id, len(plain), IdScheme.HMAC_SHA256) == plain
    with pytest.raises(ChunkCorrupt, match="content hash"):
        KEY.open_chunk(blob, legacy_id, len(plain))  # verified as BLAKE3: the id does not match


def test_a_chunk_under_another_id_or_size_is_refused() -> None:
    a, b = b"a" * 100, b"b" * 100
    ida, idb = KEY.chunk_id(a), KEY.chunk_id(b)
    blob = KEY.seal_chunk(a, ida)
    with pytest.raises(ChunkCorrupt):
        KEY.open_chunk(blob, idb, 100)
    with pytest.raises(ChunkCorrupt):
        KEY.open_chunk(blob, ida, 99)
    with pytest.raises(ChunkCorrupt, match="101"):
        KEY.open_chunk(blob, ida, 101)
    with pytest.raises(ChunkCorrupt, match="not a wafleet chunk"):
        KEY.open_chunk(b"garbage", ida, 100)
    with pytest.raises(ChunkCorrupt, match="truncated"):
        KEY.open_chunk(bytes(blob[:20]), ida, 100)


def test_an_object_larger_than_any_compression_of_the_chunk_is_refused_untouched() -> None:
    plain = b"x" * 100
    cid = KEY.chunk_id(plain)
    padded_blob = bytes(KEY.seal_chunk(plain, cid)) + bytes(1000)  # grown in the store
    scratch = bytearray(10)
    with pytest.raises(ChunkCorrupt, match="more than any compression of 100 bytes"):
        KEY.open_chunk_into(padded_blob, cid, memoryview(bytearray(100)), scratch)
    assert scratch == bytearray(10)


@pytest.mark.parametrize("size", [0, 1, 5000, 128 * 1024, 1 << 20])
def test_max_compressed_size_bounds_incompressible_data(size: int) -> None:
    worst = zstandard.ZstdCompressor(level=1).compress(os.urandom(size))
    assert len(worst) <= max_compressed_size(size)


def test_open_chunk_into_reuses_the_callers_buffers() -> None:
    """A restore worker opens every chunk into the same two buffers, whatever came before."""
    scratch = bytearray()
    out = bytearray(300)
    for plain in (b"x" * 300, b"0123456789" * 20, b""):
        cid = KEY.chunk_id(plain)
        view = memoryview(out)[: len(plain)]
        KEY.open_chunk_into(KEY.seal_chunk(plain, cid), cid, view, scratch)
        assert bytes(view) == plain
    assert len(scratch) >= len(zstandard.ZstdCompressor(level=1).compress(b"x" * 300))


def test_compression_happens_before_encryption() -> None:
    plain = b"\0" * (1 << 20)
    cid = KEY.chunk_id(plain)
    assert len(KEY.seal_chunk(plain, cid)) < 1000


def test_empty_file_has_no_chunks(tmp_path: Path) -> None:
    (tmp_path / "e").write_bytes(b"")
    assert list(iter_chunks(tmp_path / "e")) == []


@pytest.mark.parametrize(
    "content",
    [
        KEK1,
        base64.b64encode(KEK1),
        base64.b64encode(KEK1) + b"\n",
        base64.urlsafe_b64encode(KEK1).rstrip(b"="),
    ],
)
def test_kek_file_accepts_raw_and_base64(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "key").write_bytes(content)
    assert load_kek(tmp_path / "key") == KEK1


@pytest.mark.parametrize("content", [b"short", b"x" * 31, base64.b64encode(b"x" * 16), b""])
def test_kek_file_rejects_anything_else_clearly(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "key").write_bytes(content)
    with pytest.raises(KeyRingError, match="neither 32 raw bytes nor the base64 of 32 bytes"):
        load_kek(tmp_path / "key")


def test_missing_kek_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="cannot read"):
        load_kek(tmp_path / "absent")


def test_key_ring_finds_keks_by_id_and_wrapping_is_bound_to_the_kek() -> None:
    ring = KeyRing.from_keys(KEK2, [KEK1])
    assert ring.current_id == key_id(KEK2)
    assert ring.ids == {key_id(KEK1), key_id(KEK2)}
    assert len(key_id(KEK1)) == 16
    assert DataKey.unwrap(ring.kek(KEY.key_id), KEY.wrapped).dek == KEY.dek
    with pytest.raises(KeyRingError, match="does not open"):
        unwrap_data_key(KEK2, KEY.wrapped)
    with pytest.raises(KeyRingError, match="no key-encryption key"):
        KeyRing(KEK2).kek(key_id(KEK1))


def test_parse_kek_names_its_source() -> None:
    with pytest.raises(KeyRingError, match="the Secret"):
        parse_kek(b"nope", source="the Secret")


def test_a_chunk_opens_only_for_the_account_uid_it_was_sealed_for() -> None:
    """Same DEK, another uid (a copied object, or a key adopted without rebinding): refused."""
    mine = DataKey.generate(KEK1, "uid-a")
    theirs = DataKey(mine.key_id, mine.wrapped, mine.dek, "uid-b")
    unbound = DataKey(mine.key_id, mine.wrapped, mine.dek)
    cid = mine.chunk_id(b"session")
    blob = mine.seal_chunk(b"session", cid)
    assert mine.open_chunk(blob, cid, 7) == b"session"
    for other in (theirs, unbound):
        with pytest.raises(ChunkCorrupt):
            other.open_chunk(blob, cid, 7)
    # without a uid the associated data is the chunk id alone, as before format 4
    legacy = unbound.seal_chunk(b"session", cid)
    assert zstandard.ZstdDecompressor().decompress(_open_with_aad(unbound, legacy, cid.encode()))


def _open_with_aad(key: DataKey, blob: bytearray, aad: bytes) -> bytes:
    """Decrypt a chunk object by hand, with exactly `aad` as its associated data."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    enc = HKDF(hashes.SHA256(), 32, salt=None, info=b"wafleet/chunk-enc").derive(key.dek)
    return AESGCM(enc).decrypt(bytes(blob[4:16]), bytes(blob[16:]), aad)


def test_the_data_key_wrap_is_bound_to_the_account_uid() -> None:
    key = DataKey.generate(KEK1, "uid-a")
    assert DataKey.unwrap(KEK1, key.wrapped, "uid-a").dek == key.dek
    for uid in ("uid-b", ""):
        with pytest.raises(KeyRingError, match="does not open"):
            DataKey.unwrap(KEK1, key.wrapped, uid)
    legacy = DataKey.generate(KEK1)  # no uid: the wrap of every store before format 4
    assert unwrap_data_key(KEK1, legacy.wrapped) == legacy.dek


def test_the_pointer_mac_is_keyed_apart_from_the_manifest_mac() -> None:
    key = DataKey.generate(KEK1, "uid-a")
    assert key.pointer_mac(b"body") != key.mac(b"body")
    assert key.pointer_mac(b"body") == DataKey.unwrap(KEK1, key.wrapped, "uid-a").pointer_mac(
        b"body"
    )
