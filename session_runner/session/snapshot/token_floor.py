"""The snapshot store's part of the fencing token floor: its latest-pointer token + 1.

The lease's fencing token is its `leaseTransitions`, which restarts at 0 when
the Lease is deleted and re-created (drift repair, an account re-created
with `deletionPolicy: Retain`, a move to another cluster). The store
remembers the highest token that ever moved its latest-pointer and refuses
any lower one, so a holder must lead with a token above it: the elector asks
this provider right before claiming and writes at least its answer into the
Lease (`lease.decision.next_record_for_acquire`), where the next holder
(which increments from it) and the operator (which reads leaseTransitions)
see it.

+1, not the stored token itself: the holder that wrote it may be frozen
(SIGSTOP, a VM pause) and still hold exactly that token; two holders must
never share one.

Needs only the store, never the encryption key: the pointer's token is read
without a key (`manifest.LatestPointer`), so a runner whose key is wrong
still proves its token and can report the real failure from its restore.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from session_runner.session.snapshot.store import SnapshotStore

TokenFloor = Callable[[], Awaitable[int]]


def floor_from_pointer(pointer_token: int | None) -> int:
    """Pure: the lowest token a new holder may take given the pointer's (None: no snapshot yet)."""
    return 0 if pointer_token is None else pointer_token + 1


def store_token_floor(store: SnapshotStore) -> TokenFloor:
    """An async provider of `floor_from_pointer` for `store`; raises when it cannot be read.

    The read is a blocking boto3 GET, so it runs in a worker thread. Any error
    (the bucket missing, credentials refused, the network) propagates: the
    elector then does not claim this round.
    """

    async def floor() -> int:
        pointer, _ = await asyncio.to_thread(store.read_pointer)
        return floor_from_pointer(pointer.fencing_token if pointer is not None else None)

    return floor
