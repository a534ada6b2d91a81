"""An in-process lease backend with the same contract as the real ones.

For unit tests of the elector and the runner loop, and for single-process
demos. It is held to the shared contract suite, so a test that passes
against it exercises the same conflicts as Kubernetes or DynamoDB would
produce. Several backends (one per simulated runner) share one
`InMemoryLeaseStore`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from session_runner.session.lease.record import LeaseConflict, LeaseNotFound, LeaseRecord


@dataclass
class InMemoryLeaseStore:
    """The stored leases by name, and a counter for versions (like etcd's revision)."""

    leases: dict[str, LeaseRecord] = field(default_factory=dict)
    revision: int = 0

    def write(self, name: str, record: LeaseRecord) -> LeaseRecord:
        self.revision += 1
        stored = replace(record, version=str(self.revision))
        self.leases[name] = stored
        return stored

    def delete(self, name: str) -> None:
        """Remove a lease (what the operator does when an account goes away)."""
        del self.leases[name]


class InMemoryLeaseBackend:
    """One runner's view of lease `name` in `store`."""

    def __init__(self, store: InMemoryLeaseStore, name: str) -> None:
        self.store = store
        self.name = name

    async def get(self) -> LeaseRecord | None:
        return self.store.leases.get(self.name)

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        if self.name in self.store.leases:
            raise LeaseConflict(f"lease {self.name} already exists")
        return self.store.write(self.name, record)

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        current = self.store.leases.get(self.name)
        if current is None:
            raise LeaseNotFound(f"lease {self.name} not found")
        if current.version != record.version:
            raise LeaseConflict(
                f"lease {self.name} is at version {current.version}, not {record.version}"
            )
        return self.store.write(self.name, record)
