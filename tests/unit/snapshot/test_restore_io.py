"""The pure parts of restore's file I/O: alignment and when a file may be written O_DIRECT."""

from __future__ import annotations

import threading

import pytest

from session_runner.session.snapshot.restore_io import (
    ALIGN,
    ChunkScratch,
    ScratchPool,
    direct_io_fits,
    padded,
    scratch_count,
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


@pytest.mark.parametrize(
    ("concurrency", "cpus", "expected"),
    [(8, 2, 3), (8, 1, 2), (8, 16, 8), (1, 4, 1), (3, 2, 3), (0, 2, 1)],
)
def test_scratch_count_is_about_one_per_cpu_never_more_than_the_workers(
    concurrency: int, cpus: int, expected: int
) -> None:
    assert scratch_count(concurrency, cpus) == expected


def test_the_pool_lends_each_scratch_to_one_worker_and_never_makes_more_than_its_count() -> None:
    pool = ScratchPool(2, 1000)
    holding = threading.Barrier(3)  # two borrowers and the test
    release = threading.Event()
    lent: list[ChunkScratch] = []

    def borrower() -> None:
        with pool.borrow() as scratch:
            lent.append(scratch)
            holding.wait()
            release.wait()

    threads = [threading.Thread(target=borrower) for _ in range(2)]
    for thread in threads:
        thread.start()
    holding.wait()
    assert lent[0] is not lent[1]
    third: list[ChunkScratch] = []
    waiter = threading.Thread(target=lambda: third.extend([pool.borrow().__enter__()]))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # both lent: the third borrower waits
    release.set()
    waiter.join(5)
    for thread in threads:
        thread.join(5)
    assert third[0] in lent  # it got one of the two back
    assert pool.made == 2
