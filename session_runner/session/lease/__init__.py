"""The session runner's lease: one live session per account (issue 5, points 1-3 and 7).

Pure decisions (`decision`), the record and errors (`record`), the elector
loop (`elector`), fencing (`fencing`), and backends: `kubernetes` (a
coordination.k8s.io/v1 Lease), `dynamodb` (one item), `memory` (tests and
single-process demos). Backends and the factory are imported from their
modules, not from here, so importing the package loads neither
kubernetes_asyncio nor boto3.
"""

from session_runner.session.lease.backend import LeaseBackend
from session_runner.session.lease.decision import (
    ElectorState,
    Observation,
    Verdict,
    classify,
    fencing_token,
    may_acquire,
    observe,
)
from session_runner.session.lease.elector import LeaseElector
from session_runner.session.lease.fencing import FencedOutError, token_accepts
from session_runner.session.lease.memory import InMemoryLeaseBackend, InMemoryLeaseStore
from session_runner.session.lease.record import (
    LeaseBackendError,
    LeaseConflict,
    LeaseError,
    LeaseNotFound,
    LeaseRecord,
    LeaseTimings,
    holder_pod,
    unique_identity,
)

__all__ = [
    "ElectorState",
    "FencedOutError",
    "InMemoryLeaseBackend",
    "InMemoryLeaseStore",
    "LeaseBackend",
    "LeaseBackendError",
    "LeaseConflict",
    "LeaseElector",
    "LeaseError",
    "LeaseNotFound",
    "LeaseRecord",
    "LeaseTimings",
    "Observation",
    "Verdict",
    "classify",
    "fencing_token",
    "holder_pod",
    "may_acquire",
    "observe",
    "token_accepts",
    "unique_identity",
]
