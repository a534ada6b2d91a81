"""Restore's memory and file I/O: reused per-worker buffers, and writes that bypass the page cache.

A restore handles the whole session once (hundreds of MB, up to GBs). Two
things make that cheaper than the obvious code, both about not touching
fresh memory for every chunk:

* Chunks are opened into a few reused buffers (`ChunkScratch`: the
  compressed bytes, and the plaintext in a page-aligned buffer), lent from a
  `ScratchPool` of about one per CPU, instead of two new multi-MiB objects
  per chunk.
* Files are written with O_DIRECT where the filesystem allows: the disk
  reads each chunk straight from the worker's aligned buffer. Written
  through the page cache, every byte would first be copied into newly
  allocated cache pages, charged to the pod's memory cgroup, then written
  back by the fsync the restore needs anyway before the swap; the engine
  then reads only part of it.

Fresh pages are expensive wherever first touch is (a VM whose host backs
guest memory lazily, as on the benchmark machine). Measured there: writing
234 MB with 8 threads and an fsync per file took 0.32-0.46 s and 0.48-0.74 s
of CPU buffered, 0.16-0.19 s and 0.03 s of CPU with O_DIRECT (four rounds
each); decrypting and decompressing into reused buffers ran at 24 and
1.7 GB/s instead of 3.4 and 0.6 into new ones.

O_DIRECT wants the buffer address, the file offset and the length aligned to
the device's logical block (512 B or 4 KiB; `ALIGN` = 4 KiB covers both).
Chunks are fixed-size multiples of 1 MiB, so every chunk starts aligned; the
last chunk of a file is written padded with zeros to `ALIGN` and the file is
cut to its size once complete (`RestoreWriter.finish`). A file whose chunks
would not start aligned (`direct_io_fits`), a platform without O_DIRECT, and
a filesystem that refuses it (`supports_direct_io` probes the staging dir
once) are written buffered: correctness never depends on it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from session_runner.session.snapshot.crypto import max_compressed_size

ALIGN = 4096
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)


def padded(size: int) -> int:
    """`size` rounded up to a multiple of ALIGN."""
    return -(-size // ALIGN) * ALIGN


def direct_io_fits(chunk_sizes: Sequence[int]) -> bool:
    """Whether every chunk of a file starts at an aligned offset (the last may be any size)."""
    return bool(chunk_sizes) and all(size % ALIGN == 0 for size in chunk_sizes[:-1])


def supports_direct_io(directory: Path) -> bool:
    """Whether an aligned O_DIRECT write works in `directory` (tmpfs before Linux 6.6 refuses)."""
    if not _O_DIRECT:
        return False
    probe = directory / ".wafleet-direct-io-probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_DIRECT, 0o600)
        try:
            with mmap.mmap(-1, ALIGN) as block:
                os.pwrite(fd, block, 0)
        finally:
            os.close(fd)
    except OSError:
        return False
    finally:
        probe.unlink(missing_ok=True)
    return True


class ChunkScratch:
    """One chunk's buffers: `plain` (page-aligned, for O_DIRECT) and `compressed` (fixed size)."""

    def __init__(self, plain_capacity: int) -> None:
        self.plain = mmap.mmap(-1, padded(max(plain_capacity, 1)))
        self.compressed = bytearray(max_compressed_size(plain_capacity))  # never needs to grow

    def plain_view(self, size: int) -> memoryview:
        """The first `size` bytes of the plaintext buffer, for a chunk of `size` bytes."""
        if size > len(self.plain):
            raise ValueError(f"a {size}-byte chunk does not fit a {len(self.plain)}-byte buffer")
        return memoryview(self.plain)[:size]


def scratch_count(concurrency: int, cpus: int) -> int:
    """How many `ChunkScratch` a restore needs: one per chunk being opened or written at once.

    Workers spend most of their time waiting on downloads; opening a chunk
    (decrypt, decompress, hash) is CPU work, so no more than about one per
    CPU (plus one writing) happen at once. On 2 CPUs with 8 downloads in
    flight that is 3 buffers instead of 8: ~11 MB less fresh memory per
    restore on the benchmark's profile.
    """
    return max(1, min(concurrency, cpus + 1))


class ScratchPool:
    """At most `count` ChunkScratch, each lent to one worker at a time; made on first need."""

    def __init__(self, count: int, plain_capacity: int) -> None:
        self._capacity = plain_capacity
        self._slots = threading.Semaphore(count)
        self._free: list[ChunkScratch] = []
        self._made = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def borrow(self) -> Iterator[ChunkScratch]:
        with self._slots:
            with self._lock:
                scratch = self._free.pop() if self._free else None
                if scratch is None:
                    self._made += 1
            if scratch is None:
                scratch = ChunkScratch(self._capacity)
            try:
                yield scratch
            finally:
                with self._lock:
                    self._free.append(scratch)

    @property
    def made(self) -> int:
        """How many buffers exist, lent or free: never more than `count`."""
        with self._lock:
            return self._made


class RestoreWriter:
    """Opens staged files and writes verified chunks into them, direct where it can."""

    def __init__(self, *, direct: bool) -> None:
        self.direct = direct and bool(_O_DIRECT)
        self._direct_fds: set[int] = set()  # written O_DIRECT (until a fallback)
        self._padded_fds: set[int] = set()  # opened O_DIRECT: may hold padding to cut
        self._lock = threading.Lock()

    def open(self, path: Path, chunk_sizes: Sequence[int]) -> int:
        """A new file at `path`, opened O_DIRECT when this writer and its chunk layout allow."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        if self.direct and direct_io_fits(chunk_sizes):
            fd = os.open(path, flags | _O_DIRECT, 0o600)
            with self._lock:
                self._direct_fds.add(fd)
                self._padded_fds.add(fd)
            return fd
        return os.open(path, flags, 0o600)

    def write(self, fd: int, scratch: ChunkScratch, size: int, offset: int) -> None:
        """Write the first `size` bytes of `scratch.plain` at `offset`."""
        if fd not in self._direct_fds:
            _write_all(fd, scratch.plain_view(size), offset)
            return
        end = padded(size)
        scratch.plain[size:end] = bytes(end - size)
        try:
            _write_all(fd, memoryview(scratch.plain)[:end], offset)
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
            self._fall_back(fd)  # a stricter alignment than ALIGN: write this file buffered
            _write_all(fd, scratch.plain_view(size), offset)

    def finish(self, fd: int, size: int) -> None:
        """Once every chunk is written: cut the last chunk's padding, then make the file durable."""
        if fd in self._padded_fds:
            os.ftruncate(fd, size)
        os.fsync(fd)

    def _fall_back(self, fd: int) -> None:
        with self._lock:
            if fd in self._direct_fds:
                flags = fcntl.fcntl(fd, fcntl.F_GETFL)
                fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~_O_DIRECT)
                self._direct_fds.discard(fd)


def _write_all(fd: int, data: memoryview, offset: int) -> None:
    """pwrite that treats a short write (a full disk) as the error it is."""
    written = os.pwrite(fd, data, offset)
    if written != len(data):
        raise OSError(errno.ENOSPC, f"short write: {written} of {len(data)} bytes")
