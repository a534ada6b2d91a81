"""The three operations every lease backend offers, with the same semantics.

The shared contract suite (tests/integration/lease/test_backend_contract.py)
holds every implementation to these rules:

* `get()` returns the stored record (with its current version) or None.
* `create(record)` stores a new lease; LeaseConflict if it already exists.
  `record.version` is ignored.
* `update(record)` replaces the lease only if its version still equals
  `record.version`: LeaseConflict if someone wrote since, LeaseNotFound if it
  no longer exists. Never creates.
* Every write returns the stored record with its new version; the version
  changes on every write.
* Anything transient (timeouts, 5xx, dropped connections) is
  LeaseBackendError: the write may or may not have happened.
"""

from __future__ import annotations

from typing import Protocol

from session_runner.session.lease.record import LeaseRecord


class LeaseBackend(Protocol):
    """Storage for one named lease."""

    async def get(self) -> LeaseRecord | None: ...

    async def create(self, record: LeaseRecord) -> LeaseRecord: ...

    async def update(self, record: LeaseRecord) -> LeaseRecord: ...
