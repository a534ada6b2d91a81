"""Fixed-size chunking: files are read 1 MiB at a time, never whole.

Why fixed-size and not content-defined: the files we capture never insert
bytes in the middle. LevelDB table files are immutable (a change is a new
file), its .log and MANIFEST only grow at the end, and SQLite rewrites fixed
pages in place. For all three, fixed boundaries keep every unchanged chunk
identical, which is all content-defined chunking would buy, without its CPU
cost or its variable chunk sizes. 1 MiB keeps the object count (and moto's or
S3's per-request cost) low while a small change still re-uploads ~1 MiB.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

CHUNK_SIZE = 1 << 20


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


def sha256(data: bytes) -> bytes:
    """The plaintext digest a chunk id is derived from."""
    return hashlib.sha256(data).digest()
