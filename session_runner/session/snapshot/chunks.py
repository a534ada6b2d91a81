"""Chunking and the upload decisions: what a file is cut into, and which chunks go to the store.

Fixed-size chunks, not content-defined: the files we capture never insert
bytes in the middle. LevelDB table files and IndexedDB blobs are immutable
(a change is a new file), its .log and MANIFEST only grow at the end, and
SQLite rewrites fixed pages in place. For all three, fixed boundaries keep
every unchanged chunk identical, which is all content-defined chunking would
buy, without its CPU cost or its variable chunk sizes. (Measured on the
benchmark's change, 64 KiB appended to a .log and one new 2 MiB table: the
append starts a new chunk either way, and the new table is new content to
any chunker.)

The chunk size depends on how the file changes (`chunk_size_for`):

* immutable files (captured by hard link: LevelDB tables, blobs) are cut at
  `IMMUTABLE_CHUNK_SIZE` (4 MiB), so a ~2 MiB table is one object. A table
  never changes, so smaller pieces could never dedupe better, and each object
  is a request (~5 ms of server time each on the moto server): 128 requests
  instead of 208 took the benchmark's first snapshot from 2.75 s to 1.92 s
  (median of 3, same run, a loaded 2-core machine); the price is memory:
  ~41 MB peak RSS over the idle process during that snapshot instead of
  ~24 MB with 1 MiB pieces;
* files that change in place or grow (.log, MANIFEST, SQLite stores) are cut
  at `CHUNK_SIZE` (1 MiB): an append re-uploads only the last, partial chunk.

Which chunks are uploaded is `upload_action`, a pure decision: a chunk the
store already holds is never uploaded again, unless a restore or a
verification found its object corrupt (a "suspect" chunk, see `store.py`):
then it is uploaded again, replacing the bad object, so dedupe cannot reuse
a broken object forever.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

from session_runner.session.snapshot.capture import Method

CHUNK_SIZE = 1 << 20
IMMUTABLE_CHUNK_SIZE = 4 << 20


def chunk_size_for(method: Method, chunk_size: int, immutable_chunk_size: int) -> int:
    """The chunk size of a file captured with `method`: large for immutable files."""
    if method is Method.LINK:
        return max(chunk_size, immutable_chunk_size)
    return chunk_size


def iter_chunks(path: Path, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The file's content in `chunk_size` pieces (the last may be shorter); an empty file has none."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    with path.open("rb") as handle:
        while True:
            data = handle.read(chunk_size)
            if not data:
                return
            yield data


class Upload(StrEnum):
    """What a snapshot does with one chunk of a file."""

    SKIP = "skip"  # the store holds it (or this snapshot already queued it): reference it
    CREATE = "create"  # new: upload it, If-None-Match (a concurrent identical upload is fine)
    REPLACE = "replace"  # its object was found corrupt: upload it again, overwriting


def upload_action(*, in_store: bool, suspect: bool, queued: bool) -> Upload:
    """The decision for one chunk; `queued`: this snapshot already uploads it (a repeat)."""
    if queued:
        return Upload.SKIP
    if suspect:
        return Upload.REPLACE
    if in_store:
        return Upload.SKIP
    return Upload.CREATE
