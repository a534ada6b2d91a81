"""Just enough OpenAPI for kubectl.

kubectl (apply, create -f, replace) validates manifests. It first reads the
OpenAPI v3 index (/openapi/v3) and the group/version document of the kind at
hand; when the kind's PATCH operation lists the `fieldValidation` query
parameter it leaves validation to the server and needs nothing else. Only
without that does it fall back to /openapi/v2, which it wants as protobuf,
which this emulator cannot produce. So every served resource gets a PATCH
operation that declares `fieldValidation` (and the other write parameters);
no schemas are published (the server ignores fieldValidation anyway:
unknown fields are neither rejected nor pruned).
"""

from __future__ import annotations

from typing import Any

from .resources import ResourceRegistry, ResourceType

Obj = dict[str, Any]

_QUERY_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation", "force")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def index(registry: ResourceRegistry) -> Obj:
    """GET /openapi/v3: one entry per served group/version."""
    gvs = sorted({(rt.group, rt.version) for rt in registry.all()})
    return {
        "paths": {
            _gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash=emulator"}
            for g, v in gvs
        }
    }


def _patch_path(rt: ResourceType) -> str:
    base = f"/{_gv_path(rt.group, rt.version)}"
    scope = "/namespaces/{namespace}" if rt.namespaced else ""
    return f"{base}{scope}/{rt.plural}/{{name}}"


def group_version(registry: ResourceRegistry, group: str, version: str) -> Obj | None:
    """GET /openapi/v3/api/v1 or /openapi/v3/apis/{group}/{version}."""
    types = registry.in_group_version(group, version)
    if not types:
        return None
    paths = {
        _patch_path(rt): {
            "patch": {
                "operationId": f"patch{rt.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {
                    "group": rt.group,
                    "version": rt.version,
                    "kind": rt.kind,
                },
                "parameters": [
                    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                    for name in _QUERY_PARAMETERS
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
        for rt in types
    }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }
