"""wafleet's one Kubernetes REST client, on aiohttp: the runner's and the operator's.

The runner needs a handful of calls (get, create and patch its Lease; patch
its account's status; get its account); the operator's `wafleet_operator.kube.Kube`
adds server-side apply, list and delete on top of the same `KubeClient`. Both
raise the one error hierarchy of `session_runner.kube.errors`.

Why this client and not a library (`make bench ONLY=kube-clients`, issue 14:
one process loading a kubeconfig, 50 Lease GETs and 50 status merge patches
against a real kube-apiserver; PSS median of 3, floor = asyncio + aiohttp +
yaml imported, no client, 28.9 MB):

    this client (aiohttp)   29.5 MB  (+0.6)
    lightkube (httpx2)      30.2 MB  (+1.3)
    kubernetes_asyncio      68.2 MB  (+39.3)

kubernetes_asyncio loads every API group's generated models at import; the
runner's PSS goal is <= 80 MB and the operator's RSS goal <= 150 MB, so it is
out. lightkube is within a MB of this client, but would bring a second HTTP
stack (httpx2, h2, anyio, msgspec, lightkube-models) into processes that keep
aiohttp anyway (kopf watches with it; the runner's health server is aiohttp),
and rewrite every call site for no saving. What it has that this client lacks
is kubeconfig exec plugins and auth providers: wafleet runs in-cluster with a
service-account token, and development clusters use tokens or certificates.
"""

from session_runner.kube.client import APPLY_PATCH, MERGE_PATCH, KubeApiError, KubeClient
from session_runner.kube.connection import Connection, KubeConfigError, load_connection
from session_runner.kube.errors import (
    APIConflictError,
    APIError,
    APIForbiddenError,
    APINotFoundError,
    APIServerError,
    APITooManyRequestsError,
    APIUnauthorizedError,
    APIUnprocessableError,
)

__all__ = [
    "APPLY_PATCH",
    "MERGE_PATCH",
    "APIConflictError",
    "APIError",
    "APIForbiddenError",
    "APINotFoundError",
    "APIServerError",
    "APITooManyRequestsError",
    "APIUnauthorizedError",
    "APIUnprocessableError",
    "Connection",
    "KubeApiError",
    "KubeClient",
    "KubeConfigError",
    "load_connection",
]
