"""The pure parts of restore's file I/O: alignment and when a file may be written O_DIRECT."""

from __future__ import annotations

import threading

import pytest

from session_runner.snapshot.restore_io import (
    ALIGN,
    ChunkScratch,
    ScratchPerThread,
    direct_io_fits,
    padded,
)

MIB = 1 << 20


@pytest.mark.parametrize(
    ("size", "expected"),
    [(0, 0), (1, ALIGN), (ALIGN - 1, ALIGN), (ALIGN, ALIGN), (ALIGN + 1, 2 * ALIGN), (MIB, MIB)],
)
def test_padded_rounds_up_to_the_alignment(size: int, expected: int) -> None:
    assert padded(size) == expected


@pytest.mark.parametrize(
    ("chunk_sizes", "fits", "why"),
    [
        ([], False, "an empty file has nothing to write"),
        ([12_345], True, "one chunk starts at 0, its tail is padded"),
        ([MIB, MIB, 70_000], True, "1 MiB chunks: every start aligned, the last any size"),
        ([4 * MIB, 1], True, "4 MiB immutable-file chunks"),
        ([5000, 5000, 5000], False, "the second chunk would start at 5000"),
        ([MIB, 5000, MIB], False, "one unaligned chunk in the middle moves all after it"),
        ([ALIGN, ALIGN * 3, 17], True, "any multiple of ALIGN"),
    ],
)
def test_direct_io_fits_only_when_every_chunk_starts_aligned(
    chunk_sizes: list[int], fits: bool, why: str
) -> None:
    assert direct_io_fits(chunk_sizes) is fits, why


def test_the_plaintext_buffer_is_page_aligned_and_refuses_a_larger_chunk() -> None:
    scratch = ChunkScratch(MIB + 1)
    assert len(scratch.plain) == padded(MIB + 1)
    assert len(scratch.plain_view(MIB + 1)) == MIB + 1
    with pytest.raises(ValueError, match="does not fit"):
        scratch.plain_view(len(scratch.plain) + 1)


def test_each_thread_keeps_its_own_scratch() -> None:
    per_thread = ScratchPerThread(1000)
    mine = per_thread.get()
    assert per_thread.get() is mine
    seen: list[ChunkScratch] = []
    worker = threading.Thread(target=lambda: seen.extend([per_thread.get(), per_thread.get()]))
    worker.start()
    worker.join()
    assert seen[0] is seen[1]
    assert seen[0] is not mine
