"""The fencing token floor: the lowest token a new holder may lead with, from every record of one.

The Lease's `leaseTransitions` is the fencing token, and it restarts at 0
when the Lease is re-created. Two other places remember tokens already used
and keep doing so across that: the snapshot store's latest-pointer
(`snapshot.token_floor`) and the account's status, where the operator
records the highest token it accepted (`status.fencingToken`) and the
runner its own (`status.runner.fencingToken`). The floor is one above the
highest of them, combined here by max; the elector writes at least it into
the Lease when it claims (`lease.decision.next_record_for_acquire`).

+1: the runner that reported (or wrote) that token may be frozen and still
hold it; two holders must never share a token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from session_runner.session.report import report_token
from session_runner.session.restore_request import AccountReader

TokenFloor = Callable[[], Awaitable[int]]


def floor_from_status(account: Mapping[str, Any]) -> int:
    """Pure: one above the highest token the account's status records (0: none recorded)."""
    status = account.get("status") or {}
    if not isinstance(status, Mapping):
        return 0
    runner = status.get("runner")
    tokens = [
        t
        for t in (
            report_token(status),
            report_token(runner if isinstance(runner, Mapping) else None),
        )
        if t is not None
    ]
    return max(tokens) + 1 if tokens else 0


def status_token_floor(read_account: AccountReader) -> TokenFloor:
    """A provider of `floor_from_status` over the runner's account reader (main.py).

    A missing account (404) or any other failure raises: the elector then
    does not claim this round.
    """

    async def floor() -> int:
        return floor_from_status(await read_account() or {})

    return floor


def combined_floor(providers: Sequence[TokenFloor]) -> TokenFloor:
    """The max of every provider's floor, read concurrently; any failure fails the whole."""

    async def floor() -> int:
        floors = await asyncio.gather(*(provider() for provider in providers))
        return max(floors, default=0)

    return floor
