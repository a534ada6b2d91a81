"""The one place where the operator talks to the Kubernetes API server itself.

kopf watches and patches the custom resources it handles; everything else —
applying children, reading Secrets, writing status outside a handler — goes
through this thin client. Children are written with server-side apply under one
field manager, so applying the same desired object twice changes nothing, and a
field someone edited by hand is taken back on the next apply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from wafleet_operator import __version__

FIELD_MANAGER = "wafleet-operator"

#: Connections this client keeps to the API server (kubernetes_asyncio's default is 100).
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


class KubeError(Exception):
    """An API error with the server's status code and reason, without request bodies."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def is_conflict(self) -> bool:
        return self.status == 409

    @property
    def is_not_found(self) -> bool:
        return self.status == 404

    @classmethod
    def from_api_exception(cls, exc: ApiException) -> KubeError:
        reason, message = str(exc.reason or ""), ""
        try:
            status = json.loads(exc.body or "{}")
            reason = str(status.get("reason") or reason)
            message = str(status.get("message") or "")
        except (TypeError, ValueError):
            pass
        return cls(int(exc.status or 0), reason, message)


async def load_client_config() -> client.Configuration:
    """In-cluster configuration when running in a pod, else the kubeconfig (KUBECONFIG)."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        await config.load_kube_config(client_configuration=configuration)
    return configuration


class Kube:
    """Typed-enough access to the API server for the operator's own writes and reads."""

    def __init__(self, api_client: client.ApiClient, field_manager: str = FIELD_MANAGER) -> None:
        self._api = api_client
        self._field_manager = field_manager

    @classmethod
    async def connect(
        cls, field_manager: str = FIELD_MANAGER, max_connections: int = MAX_CONNECTIONS
    ) -> Kube:
        configuration = await load_client_config()
        configuration.connection_pool_maxsize = max_connections
        api = client.ApiClient(configuration)
        api.user_agent = f"wafleet-operator/{__version__}"  # audit logs name us, not the library
        return cls(api, field_manager)

    async def close(self) -> None:
        await self._api.close()

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        try:
            result = await self._api.call_api(
                path,
                method,
                query_params=query or [],
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                response_types_map={200: "object", 201: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )
        except ApiException as exc:
            raise KubeError.from_api_exception(exc) from None
        return dict(result) if isinstance(result, dict) else {}

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
            content_type="application/apply-patch+yaml",
        )

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return await self._call("GET", kind_of(api_version, kind).object_path(namespace, name))
        except KubeError as exc:
            if exc.is_not_found:
                return None
            raise

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
        except KubeError as exc:
            if exc.is_not_found:
                return False
            raise
        return True

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
            content_type="application/merge-patch+json",
        )
