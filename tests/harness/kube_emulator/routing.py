"""URL paths of the Kubernetes REST API, parsed into what they address.

    /api/v1/namespaces/{ns}/{plural}[/{name}[/{subresource}]]
    /apis/{group}/{version}/[namespaces/{ns}/]{plural}[/{name}[/{subresource}]]
    .../watch/...   (the legacy watch paths, same as ?watch=true)

`/api/v1/namespaces/{name}/status` addresses the namespace's status while
`/api/v1/namespaces/{ns}/configmaps` lists configmaps: the third segment
decides, by whether it names a namespaced resource of that group/version.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import no_such_route
from .resources import ResourceRegistry, ResourceType


@dataclass(frozen=True)
class Discovery:
    """A non-resource path: "version", "api", "apis", "group", "resources", "openapi/v2", "openapi/v3", "openapi/v3/gv"."""

    what: str
    group: str = ""
    version: str = ""


@dataclass(frozen=True)
class ResourcePath:
    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    watch: bool


def parse(path: str, registry: ResourceRegistry) -> Discovery | ResourcePath:
    parts = [p for p in path.split("/") if p]
    if parts in (["version"], ["openapi", "v2"]):
        return Discovery("/".join(parts))
    if parts[:2] == ["openapi", "v3"]:
        if len(parts) == 2:
            return Discovery("openapi/v3")
        if parts[2] == "api" and len(parts) == 4:
            return Discovery("openapi/v3/gv", "", parts[3])
        if parts[2] == "apis" and len(parts) == 5:
            return Discovery("openapi/v3/gv", parts[3], parts[4])
        raise no_such_route()
    if parts[:1] == ["api"]:
        if len(parts) == 1:
            return Discovery("api")
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"]:
        if len(parts) == 1:
            return Discovery("apis")
        if len(parts) == 2:
            return Discovery("group", parts[1])
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise no_such_route()
    if not rest:
        return Discovery("resources", group, version)
    return _resource(registry, group, version, rest)


def _resource(
    registry: ResourceRegistry, group: str, version: str, rest: list[str]
) -> ResourcePath:
    watch = rest[0] == "watch"
    if watch:
        rest = rest[1:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        candidate = registry.lookup(group, version, rest[2])
        if candidate is not None and candidate.namespaced:
            namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise no_such_route()
    rt = registry.lookup(group, version, rest[0])
    if rt is None or (namespace is None and rt.namespaced and len(rest) > 1):
        raise no_such_route()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource is not None and subresource not in rt.subresources:
        raise no_such_route()
    return ResourcePath(rt, namespace, name, subresource, watch)
