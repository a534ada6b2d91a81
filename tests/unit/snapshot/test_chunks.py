"""The pure chunking decisions: chunk sizes per capture method, and what to upload."""

from __future__ import annotations

import pytest

from session_runner.session.snapshot.capture import Method
from session_runner.session.snapshot.chunks import (
    CHUNK_SIZE,
    IMMUTABLE_CHUNK_SIZE,
    Upload,
    chunk_size_for,
    upload_action,
)

MIB = 1 << 20


@pytest.mark.parametrize(
    ("in_store", "suspect", "queued", "expected"),
    [
        # in store  suspect  queued this run
        (False, False, False, Upload.CREATE),  # new content
        (True, False, False, Upload.SKIP),  # dedupe: never uploaded again
        (True, True, False, Upload.REPLACE),  # its object was found corrupt: upload over it
        (False, True, False, Upload.REPLACE),  # marked, then deleted (GC, by hand): upload it
        (False, False, True, Upload.SKIP),  # a repeat within one snapshot
        (True, False, True, Upload.SKIP),
        (True, True, True, Upload.SKIP),  # the first occurrence already replaces it
        (False, True, True, Upload.SKIP),
    ],
)
def test_upload_action(in_store: bool, suspect: bool, queued: bool, expected: Upload) -> None:
    assert upload_action(in_store=in_store, suspect=suspect, queued=queued) is expected


@pytest.mark.parametrize(
    ("method", "chunk_size", "immutable", "expected"),
    [
        (Method.LINK, CHUNK_SIZE, IMMUTABLE_CHUNK_SIZE, 4 * MIB),  # tables: one object each
        (Method.COPY, CHUNK_SIZE, IMMUTABLE_CHUNK_SIZE, 1 * MIB),  # growing .log, MANIFEST
        (Method.SQLITE_BACKUP, CHUNK_SIZE, IMMUTABLE_CHUNK_SIZE, 1 * MIB),  # pages in place
        (Method.LINK, 8 * MIB, 4 * MIB, 8 * MIB),  # never smaller than the base size
        (Method.COPY, 64 * 1024, 4 * MIB, 64 * 1024),
    ],
)
def test_chunk_size_for(method: Method, chunk_size: int, immutable: int, expected: int) -> None:
    assert chunk_size_for(method, chunk_size, immutable) == expected
