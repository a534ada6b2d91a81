"""The one place where the operator talks to the Kubernetes API server itself.

kopf watches and patches the custom resources it handles; everything else —
applying children, reading Secrets, writing status outside a handler — goes
through this thin client. Children are written with server-side apply under one
field manager, so applying the same desired object twice changes nothing, and a
field someone edited by hand is taken back on the next apply.

`Kube` is a thin layer over the runner's `session_runner.kube.KubeClient`, the one
Kubernetes client wafleet has (issue 14; why that one and not kubernetes_asyncio
or lightkube: session_runner/kube/__init__.py). Its errors are the one hierarchy
of `session_runner.kube.errors`; `KubeError` is the base class's name here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from session_runner.kube.client import APPLY_PATCH, MERGE_PATCH, KubeClient
from session_runner.kube.errors import (
    APIConflictError,
    APIError,
    APIForbiddenError,
    APINotFoundError,
    APIUnprocessableError,
)
from wafleet_operator import __version__

#: The operator's name for the base API error (many call sites catch it).
KubeError = APIError

FIELD_MANAGER = "wafleet-operator"

#: Connections this client keeps to the API server (aiohttp's default is 100).
#: Each one is TLS, and each costs about 0.3 MB resident for as long as aiohttp keeps it
#: alive: asyncio gives every SSL connection a 256 KiB read buffer, OpenSSL adds its own
#: state. When 1,000 accounts are created at once, kopf's 128 account workers reconcile in
#: parallel and used to open all 100 (about 30 MB of the burst's peak); a request beyond
#: the bound waits for a free connection instead. On the 2-core bench (converge ~40 s
#: unbounded) 32 added 6-12 s to converging 1,000 accounts and 16 added 13-16 s.
MAX_CONNECTIONS = 32


@dataclass(frozen=True)
class ResourceKind:
    """Where a kind lives in the API: enough to build its URL."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def collection_path(self, namespace: str | None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced:
            if namespace is None:
                raise ValueError(f"{self.kind} is namespaced: a namespace is required")
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def object_path(self, namespace: str | None, name: str) -> str:
        return f"{self.collection_path(namespace)}/{name}"


KINDS: dict[tuple[str, str], ResourceKind] = {
    (k.api_version, k.kind): k
    for k in (
        ResourceKind("v1", "Service", "services"),
        ResourceKind("v1", "ServiceAccount", "serviceaccounts"),
        ResourceKind("v1", "Secret", "secrets"),
        ResourceKind("v1", "Pod", "pods"),
        ResourceKind("v1", "ConfigMap", "configmaps"),
        ResourceKind("v1", "Event", "events"),
        ResourceKind("apps/v1", "StatefulSet", "statefulsets"),
        ResourceKind("apps/v1", "Deployment", "deployments"),
        ResourceKind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        ResourceKind("keda.sh/v1alpha1", "ScaledObject", "scaledobjects"),
        ResourceKind("rbac.authorization.k8s.io/v1", "Role", "roles"),
        ResourceKind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
        ResourceKind("coordination.k8s.io/v1", "Lease", "leases"),
        ResourceKind("wafleet.io/v1alpha1", "WhatsAppAccount", "whatsappaccounts"),
        ResourceKind("wafleet.io/v1alpha1", "SenderPool", "senderpools"),
        ResourceKind("wafleet.io/v1alpha1", "WebhookSubscription", "webhooksubscriptions"),
    )
}


def kind_of(api_version: str, kind: str) -> ResourceKind:
    try:
        return KINDS[(api_version, kind)]
    except KeyError:
        raise ValueError(f"wafleet does not manage {kind} ({api_version})") from None


class Kube:
    """Typed-enough access to the API server for the operator's own writes and reads."""

    def __init__(self, client: KubeClient, field_manager: str = FIELD_MANAGER) -> None:
        self.client = client
        self._field_manager = field_manager

    @classmethod
    async def connect(
        cls, field_manager: str = FIELD_MANAGER, max_connections: int = MAX_CONNECTIONS
    ) -> Kube:
        """In-cluster in a pod, else the kubeconfig ($KUBECONFIG or ~/.kube/config)."""
        client = KubeClient.connect(
            # audit logs name us, not the library
            user_agent=f"wafleet-operator/{__version__}",
            max_connections=max_connections,
        )
        return cls(client, field_manager)

    async def close(self) -> None:
        await self.client.close()

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        return await self.client.request(
            method, path, body, content_type=content_type, params=query
        )

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply `obj` as wafleet's field manager, taking fields back from others.

        `force` is right for children the operator owns outright: a hand edit of
        their replicas or template is drift to repair, not an opinion to respect.
        """
        meta = obj["metadata"]
        kind = kind_of(obj["apiVersion"], obj["kind"])
        return await self._call(
            "PATCH",
            kind.object_path(meta.get("namespace"), meta["name"]),
            body=obj,
            query=[("fieldManager", self._field_manager), ("force", "true")],
            content_type=APPLY_PATCH,
        )

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return await self._call("GET", kind_of(api_version, kind).object_path(namespace, name))
        except APINotFoundError:
            return None

    async def list(
        self, api_version: str, kind: str, namespace: str | None
    ) -> list[dict[str, Any]]:
        """Every object of a kind, in one namespace or (None) across the cluster."""
        resource = kind_of(api_version, kind)
        if namespace is None and resource.namespaced:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            path = f"{base}/{resource.plural}"
        else:
            path = resource.collection_path(namespace)
        items = (await self._call("GET", path)).get("items") or []
        return [dict(item) for item in items]

    async def delete(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        *,
        propagation: str = "Background",
    ) -> bool:
        """Delete (dependents: `propagation`, Background or Orphan); False when already gone."""
        try:
            await self._call(
                "DELETE",
                kind_of(api_version, kind).object_path(namespace, name),
                body={"propagationPolicy": propagation},
            )
        except APINotFoundError:
            return False
        return True

    async def annotate(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        annotations: dict[str, str | None],
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """JSON merge patch of metadata.annotations (None removes one), optionally guarded by
        resourceVersion so a decision made on a read is not written over a newer object."""
        metadata: dict[str, Any] = {"annotations": annotations}
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        return await self._call(
            "PATCH",
            kind_of(api_version, kind).object_path(namespace, name),
            body={"metadata": metadata},
            content_type=MERGE_PATCH,
        )

    async def patch_status(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        status: dict[str, Any],
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """JSON merge patch of the status subresource, optionally guarded by resourceVersion."""
        body: dict[str, Any] = {"status": status}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        return await self._call(
            "PATCH",
            kind_of(api_version, kind).object_path(namespace, name) + "/status",
            body=body,
            content_type=MERGE_PATCH,
        )


__all__ = [
    "FIELD_MANAGER",
    "KINDS",
    "MAX_CONNECTIONS",
    "APIConflictError",
    "APIError",
    "APIForbiddenError",
    "APINotFoundError",
    "APIUnprocessableError",
    "Kube",
    "KubeError",
    "ResourceKind",
    "kind_of",
]
