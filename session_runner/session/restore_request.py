"""`spec.restoreFrom` is a one-shot request: it rolls the session back once, not on every start.

Left in the spec, a snapshot id would otherwise roll the session back to it
on every restart (losing everything since), and once retention collected that
snapshot every start would fail. So the request is tracked in the account's
status, as a request with an identity and an answer:

* the operator records `status.restoreRequest = {snapshotId, generation}` when
  `spec.restoreFrom` takes a new value (the generation of that spec edit is the
  request's identity: removing the field and setting the same id again later is
  a new request), and marks it `consumed` once a runner reported doing it;
* the runner that restores from it reports `status.runner.restoredFrom =
  {snapshotId, generation}`;
* every later start restores the latest snapshot instead.

Everything here is pure; `session_runner.session.main` reads the account and
the snapshot hook asks `snapshot_to_restore` which snapshot to restore.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RestoreRequest:
    """`status.restoreRequest` as the operator recorded it."""

    snapshot_id: str
    generation: int | None
    consumed: bool = False


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def recorded_request(account: Mapping[str, Any] | None) -> RestoreRequest | None:
    """The request in the account's status (None: none recorded, or unreadable)."""
    raw = ((account or {}).get("status") or {}).get("restoreRequest")
    if not isinstance(raw, Mapping) or not isinstance(raw.get("snapshotId"), str):
        return None
    return RestoreRequest(
        snapshot_id=raw["snapshotId"],
        generation=_int_or_none(raw.get("generation")),
        consumed=raw.get("consumed") is True,
    )


def reported_restore(account: Mapping[str, Any] | None) -> tuple[str, int | None] | None:
    """What a runner last reported restoring from (`status.runner.restoredFrom`)."""
    runner = ((account or {}).get("status") or {}).get("runner") or {}
    raw = runner.get("restoredFrom") if isinstance(runner, Mapping) else None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("snapshotId"), str):
        return None
    return raw["snapshotId"], _int_or_none(raw.get("generation"))


def snapshot_to_restore(
    requested: str | None,
    recorded: RestoreRequest | None,
    reported: tuple[str, int | None] | None,
    done_here: str | None,
) -> str | None:
    """The snapshot to restore from now (None: the latest).

    `requested` is spec.restoreFrom as the pod's settings carry it; `recorded`
    the operator's record of the request, `reported` the last runner report's
    `restoredFrom`, `done_here` what this process already restored from (a
    leader that lost the lease and took it back must not roll back twice).
    The request counts as done when any of them says it was done for this
    very request: same snapshot and, where the operator recorded one, the same
    generation.
    """
    if requested is None or done_here == requested:
        return None
    if recorded is not None and recorded.snapshot_id == requested:
        if recorded.consumed:
            return None
        if reported is not None and reported == (requested, recorded.generation):
            return None
    return requested


def restored_from_report(snapshot_id: str, recorded: RestoreRequest | None) -> dict[str, Any]:
    """`status.runner.restoredFrom` after restoring `snapshot_id` for the request.

    The generation is the recorded request's when it names this snapshot; None
    when the operator had not recorded it yet (the pod started with the spec
    edit), in which case the operator matches on the snapshot id alone.
    """
    generation = (
        recorded.generation
        if recorded is not None and recorded.snapshot_id == snapshot_id
        else None
    )
    return {"snapshotId": snapshot_id, "generation": generation}


AccountReader = Callable[[], Awaitable[Mapping[str, Any] | None]]


class OneShotRestore:
    """The I/O around `snapshot_to_restore`: reads the account, remembers what it restored.

    `read_account` is None outside Kubernetes (a file reporter, DynamoDB leases):
    there is no status to record the request in, so it is consumed once per process.
    A failure to read the account propagates: the start fails and is retried after
    a backoff, which is better than rolling a session back on a guess.
    """

    def __init__(self, requested: str | None, read_account: AccountReader | None) -> None:
        self._requested = requested
        self._read_account = read_account
        self._recorded: RestoreRequest | None = None
        self._target: str | None = None
        self._done_here: str | None = None
        self.report: dict[str, Any] | None = None  # status.runner.restoredFrom, once done

    async def named(self) -> set[str]:
        """The snapshots the account's spec names now (GC keeps them), this pod's included."""
        account = await self._read_account() if self._read_account is not None else None
        current = ((account or {}).get("spec") or {}).get("restoreFrom")
        return {sid for sid in (self._requested, current) if isinstance(sid, str) and sid}

    async def target(self) -> str | None:
        """The snapshot this start must restore (None: the latest)."""
        account = await self._read_account() if self._read_account is not None else None
        self._recorded = recorded_request(account)
        self._target = snapshot_to_restore(
            self._requested, self._recorded, reported_restore(account), self._done_here
        )
        return self._target

    def restored(self, snapshot_id: str | None) -> bool:
        """The restore finished with `snapshot_id`: True when that carried out the request."""
        if snapshot_id is None or snapshot_id != self._target:
            return False
        self._done_here = snapshot_id
        self.report = restored_from_report(snapshot_id, self._recorded)
        return True
