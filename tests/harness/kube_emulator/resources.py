"""The resource types the emulator serves: built-ins and registered CRDs.

A real API server's behaviour differs per type (whether PUT may omit
resourceVersion, whether generation is tracked, which subresources exist,
which field selectors work). Those differences live here as data, so the
store can stay one generic implementation.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from . import schema as structural

Obj = dict[str, Any]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")
CRD_GROUP = "apiextensions.k8s.io"
CRD_PLURAL = "customresourcedefinitions"


@dataclass(frozen=True)
class ResourceType:
    """One group/version/plural and the per-type rules a real server applies to it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    # Custom resources refuse strategic merge patches (415) and return the
    # deleted object from DELETE; built-ins differ on both.
    custom: bool = False
    # The real strategies' AllowUnconditionalUpdate: may PUT omit resourceVersion?
    unconditional_update: bool = True
    # AllowCreateOnUpdate: does PUT of a missing object create it (leases, events, rbac)?
    create_on_update: bool = False
    # Whether metadata.generation exists (ConfigMaps, Leases, … have none).
    tracks_generation: bool = False
    # Field selectors besides metadata.name / metadata.namespace.
    extra_fields: tuple[str, ...] = ()
    # From the CRD: additionalPrinterColumns (kubectl get's table columns).
    printer_columns: tuple[Obj, ...] = ()
    crd_name: str | None = None
    # From the CRD: the version's openAPIV3Schema and its compiled validator.
    schema: Obj | None = field(default=None, compare=False)
    validator: Any = field(default=None, compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def storage_key(self) -> tuple[str, str]:
        """Objects are stored once per group/plural, whatever version a client asks for."""
        return (self.group, self.plural)

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def field_selectors(self) -> tuple[str, ...]:
        base = ("metadata.name", "metadata.namespace") if self.namespaced else ("metadata.name",)
        return base + self.extra_fields


def _builtin(group: str, version: str, plural: str, kind: str, **kw: Any) -> ResourceType:
    return ResourceType(group=group, version=version, plural=plural, kind=kind, **kw)


STATUS = frozenset({"status"})

BUILTINS: tuple[ResourceType, ...] = (
    _builtin(
        "",
        "v1",
        "namespaces",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        subresources=STATUS,
    ),
    _builtin("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _builtin("", "v1", "secrets", "Secret", extra_fields=("type",)),
    _builtin(
        "",
        "v1",
        "services",
        "Service",
        short_names=("svc",),
        categories=("all",),
        subresources=STATUS,
    ),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _builtin(
        "",
        "v1",
        "events",
        "Event",
        short_names=("ev",),
        create_on_update=True,
        extra_fields=(
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ),
    ),
    _builtin(
        "",
        "v1",
        "pods",
        "Pod",
        short_names=("po",),
        categories=("all",),
        subresources=STATUS,
        extra_fields=("spec.nodeName", "spec.serviceAccountName", "status.phase", "status.podIP"),
    ),
    _builtin(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        short_names=("pvc",),
        subresources=STATUS,
    ),
    _builtin(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short_names=("deploy",),
        categories=("all",),
        subresources=STATUS,
        tracks_generation=True,
    ),
    _builtin(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        short_names=("sts",),
        categories=("all",),
        subresources=STATUS,
        tracks_generation=True,
    ),
    _builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", create_on_update=True),
    _builtin(
        "rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", create_on_update=True
    ),
    _builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        namespaced=False,
        create_on_update=True,
    ),
    _builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        namespaced=False,
        create_on_update=True,
    ),
    _builtin(
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        unconditional_update=False,
        create_on_update=True,
    ),
    _builtin(
        CRD_GROUP,
        "v1",
        CRD_PLURAL,
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        subresources=STATUS,
        unconditional_update=False,
        tracks_generation=True,
    ),
    _builtin(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        short_names=("ev",),
        create_on_update=True,
        extra_fields=(
            "reason",
            "type",
            "regarding.kind",
            "regarding.name",
            "regarding.namespace",
            "regarding.uid",
        ),
    ),
)

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting versions in Kubernetes order: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > others."""
    m = _VERSION_RE.match(version)
    if not m:
        return (3, 0, 0, version)
    major, stage, minor = int(m[1]), m[2], int(m[3] or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, version)


def crd_resource_types(crd: Obj) -> list[ResourceType]:
    """The served versions of a (validated) CRD as resource types."""
    spec = crd["spec"]
    names = spec["names"]
    types = []
    for v in spec["versions"]:
        if not v.get("served", True):
            continue
        # /scale is not served (documented simplification); /status is.
        subs = {"status"} if "status" in (v.get("subresources") or {}) else set()
        openapi = (v.get("schema") or {}).get("openAPIV3Schema")
        types.append(
            ResourceType(
                group=spec["group"],
                version=v["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=frozenset(subs),
                custom=True,
                unconditional_update=False,
                tracks_generation=True,
                printer_columns=tuple(v.get("additionalPrinterColumns") or ()),
                crd_name=crd["metadata"]["name"],
                schema=openapi,
                validator=structural.validator(openapi) if openapi else None,
            )
        )
    return types


def crd_problems(crd: Obj) -> list[tuple[str, str, str]]:
    """Validation errors of a CRD as (field, reason, message), the subset a real server checks that matters here."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [("spec", "FieldValueRequired", "Required value")]
    problems: list[tuple[str, str, str]] = []
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not group:
        problems.append(("spec.group", "FieldValueRequired", "Required value"))
    if not plural:
        problems.append(("spec.names.plural", "FieldValueRequired", "Required value"))
    if not kind:
        problems.append(("spec.names.kind", "FieldValueRequired", "Required value"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        problems.append(
            (
                "spec.scope",
                "FieldValueNotSupported",
                f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"',
            )
        )
    name = (crd.get("metadata") or {}).get("name")
    if group and plural and name != f"{plural}.{group}":
        problems.append(
            (
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
            )
        )
    versions = spec.get("versions") or []
    if not versions:
        problems.append(
            (
                "spec.versions",
                "FieldValueInvalid",
                "Invalid value: null: must have exactly one version marked as storage version",
            )
        )
    elif sum(1 for v in versions if v.get("storage")) != 1:
        problems.append(
            (
                "spec.versions",
                "FieldValueInvalid",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )
    return problems


@dataclass
class ResourceRegistry:
    """Which group/version/plurals exist right now (built-ins plus established CRDs).

    Thread-safe: the HTTP server reads it while tests register CRDs.
    """

    _types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # CRD name -> the resourceVersion of it that is being served.
    _crd_versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def with_builtins(cls) -> ResourceRegistry:
        registry = cls()
        for rt in BUILTINS:
            registry._types[(rt.group, rt.version, rt.plural)] = rt
        return registry

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return self._types.get((group, version, plural))

    def find(self, api_version: str, plural: str) -> ResourceType:
        """Resolve e.g. ("v1", "configmaps") or ("wafleet.io/v1alpha1", "whatsappaccounts")."""
        group, _, version = api_version.rpartition("/")
        rt = self.lookup(group, version, plural)
        if rt is None:
            raise KeyError(f"no resource {plural} in {api_version}")
        return rt

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.all() if rt.group == group and rt.version == version]

    def versions_of(self, storage_key: tuple[str, str]) -> list[ResourceType]:
        return [rt for rt in self.all() if rt.storage_key == storage_key]

    def groups(self) -> dict[str, list[str]]:
        """Non-core groups and their versions, preferred (highest priority) first."""
        grouped: dict[str, set[str]] = {}
        for rt in self.all():
            if rt.group:
                grouped.setdefault(rt.group, set()).add(rt.version)
        return {g: sorted(vs, key=version_priority) for g, vs in sorted(grouped.items())}

    def register_crd(self, crd: Obj) -> None:
        """Serve (or re-serve, after an update) the CRD's versions."""
        name, version = crd["metadata"]["name"], crd["metadata"].get("resourceVersion", "")
        with self._lock:
            if version and self._crd_versions.get(name) == version:
                return
        fresh = crd_resource_types(crd)
        with self._lock:
            self._drop(name)
            self._crd_versions[name] = version
            for rt in fresh:
                self._types[(rt.group, rt.version, rt.plural)] = rt

    def unregister_crd(self, name: str) -> None:
        with self._lock:
            self._drop(name)

    def crd_names(self) -> set[str]:
        with self._lock:
            return {rt.crd_name for rt in self._types.values() if rt.crd_name}

    def _drop(self, crd_name: str) -> None:
        self._crd_versions.pop(crd_name, None)
        for key in [k for k, rt in self._types.items() if rt.crd_name == crd_name]:
            del self._types[key]
