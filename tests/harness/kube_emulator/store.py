"""The in-memory object store: the API server's write rules, without HTTP.

Everything that makes the real API server more than a dict lives here:
one global, monotonically increasing resourceVersion; uid and
creationTimestamp stamping; metadata.generation bumped only by non-metadata
changes; no-op writes that change nothing (not even resourceVersion);
optimistic concurrency (409 on a stale resourceVersion, 422 for a PUT that
omits it where the real strategy requires it); the status subresource kept
apart from the main resource; finalizers and deletionTimestamp; a bounded
change history for resumable watches. Checks that need no stored state
(names, types, schemas) are in admission.py. Follow-up work a real cluster does in
controllers (garbage collection, namespace and CRD lifecycle) runs right
after each write, see controllers.py.

All methods are thread-safe (one re-entrant lock): the HTTP server calls
them from its event loop thread while tests may call them directly.
Stored objects are never mutated in place, so history and watchers can
share them; everything handed out is a deep copy.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import admission, controllers
from .admission import CRDS, NAMESPACES
from .apply import server_side_apply
from .errors import (
    ApiError,
    already_exists,
    bad_request,
    cause,
    conflict,
    forbidden,
    gone,
    invalid,
    namespace_not_found,
    not_found,
    unsupported_media_type,
)
from .patch import APPLY, CUSTOM_PATCH_TYPES, PATCH_TYPES, STRATEGIC, apply_patch
from .resources import ResourceRegistry, ResourceType
from .selectors import FieldSelector, LabelSelector
from .watch import ADDED, DELETED, MODIFIED, Change, Watcher

Obj = dict[str, Any]

FOREGROUND = "foregroundDeletion"
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
UNDELETABLE_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
# Metadata only the server sets; a client's values are ignored on update.
SERVER_METADATA = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
    "managedFields",
    "selfLink",
)
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the real server's generateName alphabet


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj["metadata"]
    return meta


def _content(obj: Obj) -> Obj:
    """What metadata.generation tracks: everything but metadata (and the type header)."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}


def _go_strings(values: list[str]) -> str:
    return "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"


@dataclass(frozen=True)
class ListResult:
    items: list[Obj]
    resource_version: str
    continue_token: str = ""
    remaining: int | None = None


class ObjectStore:
    """Objects by (group, plural) then (namespace, name); see the module docstring."""

    def __init__(self, registry: ResourceRegistry, *, history_size: int = 10_000) -> None:
        self.registry = registry
        self.history_size = history_size
        self._lock = threading.RLock()
        self._buckets: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._rv = 0
        self._history: deque[Change] = deque()
        self._history_floor = 0  # a watch from N needs N >= floor
        self._watchers: set[Watcher] = set()
        self._dirty = False
        self._settling = False
        # Which uids exist, and which are being deleted in the foreground: the
        # garbage collector only needs a full pass when a dependent's owner is
        # missing or blocking, so most writes skip it (a pass is O(objects)).
        self._uids: set[str] = set()
        self._foreground: set[str] = set()
        ns_rt = self.registry.find("v1", "namespaces")
        for name in INITIAL_NAMESPACES:
            self.create(ns_rt, None, {"metadata": {"name": name}})

    # ----------------------------------------------------------------- reads

    @property
    def resource_version(self) -> str:
        """The latest resourceVersion handed out (what a list would report)."""
        with self._lock:
            return str(self._rv)

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        with self._lock:
            obj = self._find(rt, namespace, name)
            if obj is None:
                raise not_found(rt, name)
            return self.present(rt, obj)

    def list_objects(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
        *,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        """Objects sorted by namespace/name like etcd keys; `limit`/`continue` page through them."""
        with self._lock:
            items = self._matching(rt, namespace, labels, fields)
            list_rv = str(self._rv)
            if continue_token:
                try:
                    token = json.loads(base64.urlsafe_b64decode(continue_token))
                    after, list_rv = tuple(token["start"]), str(token["rv"])
                except (ValueError, KeyError, TypeError):
                    raise bad_request("continue key is not valid") from None
                items = [o for o in items if self._key(o) > after]
            if limit and len(items) > limit:
                page, rest = items[:limit], items[limit:]
                token_obj = {"rv": list_rv, "start": list(self._key(page[-1]))}
                next_token = base64.urlsafe_b64encode(json.dumps(token_obj).encode()).decode()
                return ListResult(
                    [self.present(rt, o) for o in page], list_rv, next_token, len(rest)
                )
            return ListResult([self.present(rt, o) for o in items], list_rv)

    def peek(self, api_version: str, plural: str, namespace: str | None, name: str) -> Obj | None:
        """White-box test helper: the stored object or None, e.g. peek("v1", "configmaps", "default", "x")."""
        rt = self.registry.find(api_version, plural)
        with self._lock:
            obj = self._find(rt, namespace, name)
            return None if obj is None else self.present(rt, obj)

    def objects(self, api_version: str, plural: str, namespace: str | None = None) -> list[Obj]:
        """White-box test helper: all stored objects of a type (in one namespace, or all)."""
        rt = self.registry.find(api_version, plural)
        return self.list_objects(rt, namespace).items

    # ---------------------------------------------------------------- writes

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        strict: bool = False,
    ) -> Obj:
        """POST. `strict` is fieldValidation=Strict: unknown fields are an error, not pruned."""
        with self._lock:
            obj = self._prepare_create(rt, namespace, body, strict=strict)
            if dry_run:
                return self.present(rt, obj)
            created = self._insert(rt, obj)
            self._settle()
            return self.present(rt, created)

    def replace(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> tuple[Obj, bool]:
        """PUT. Returns (object, created?); creates only where the real strategy allows it (leases, events, RBAC)."""
        with self._lock:
            current = self._find(rt, namespace, name)
            if current is None:
                if not (rt.create_on_update and subresource is None):
                    raise not_found(rt, name)
                admission.check_name_matches(rt, body, name, namespace)
                return self.create(rt, namespace, body, dry_run=dry_run, strict=strict), True
            new = self._prepare_update(
                rt,
                current,
                body,
                name=name,
                namespace=namespace,
                subresource=subresource,
                require_rv=not rt.unconditional_update,
                strict=strict,
            )
            return self._finish(rt, current, new, dry_run=dry_run), False

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> tuple[Obj, bool]:
        """PATCH in any of the four formats. Returns (object, created?): apply may create."""
        if content_type not in PATCH_TYPES:
            raise unsupported_media_type(content_type, list(PATCH_TYPES))
        if content_type == STRATEGIC and rt.custom:
            raise unsupported_media_type(content_type, list(CUSTOM_PATCH_TYPES))
        with self._lock:
            current = self._find(rt, namespace, name)
            if content_type == APPLY:
                return self._apply(
                    rt, namespace, name, current, patch, subresource, field_manager, dry_run, strict
                )
            if current is None:
                raise not_found(rt, name)
            patched = apply_patch(content_type, self.present(rt, current), patch, custom=rt.custom)
            new = self._prepare_update(
                rt,
                current,
                patched,
                name=name,
                namespace=namespace,
                subresource=subresource,
                require_rv=False,
                strict=strict,
            )
            return self._finish(rt, current, new, dry_run=dry_run), False

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: Obj | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """DELETE. Returns (object, removed?): with finalizers it only gets a deletionTimestamp."""
        with self._lock:
            current = self._find(rt, namespace, name)
            if current is None:
                raise not_found(rt, name)
            meta = _meta(current)
            pre = preconditions or {}
            if pre.get("uid") and pre["uid"] != meta["uid"]:
                raise conflict(
                    rt,
                    name,
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta['uid']}",
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
                raise conflict(
                    rt,
                    name,
                    f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                    f"ResourceVersion in object meta: {meta['resourceVersion']}",
                )
            if rt.storage_key == NAMESPACES and name in UNDELETABLE_NAMESPACES:
                raise forbidden(rt, name, "this namespace may not be deleted")
            if propagation not in (None, "Orphan", "Background", "Foreground"):
                raise bad_request(f"propagationPolicy: Unsupported value: {propagation!r}")
            if dry_run:
                return self.present(rt, current), False
            obj, removed = self.delete_object(rt, current, propagation or "Background")
            self._settle()
            return self.present(rt, obj), removed

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
        *,
        propagation: str | None = None,
    ) -> list[Obj]:
        with self._lock:
            done = []
            for obj in self._matching(rt, namespace, labels, fields):
                current = self._find(rt, _meta(obj).get("namespace"), _meta(obj)["name"])
                if current is not None:
                    done.append(
                        self.present(
                            rt, self.delete_object(rt, current, propagation or "Background")[0]
                        )
                    )
            self._settle()
            return done

    # ----------------------------------------------------------------- watch

    def start_watch(
        self, rt: ResourceType, watcher: Watcher, since: str | None
    ) -> list[tuple[str, Obj]]:
        """Register `watcher`; returns the events to send first.

        No resourceVersion (or "0"): the current objects as ADDED. Otherwise
        the recorded changes after it, or 410 Expired when the history no
        longer reaches back that far.
        """
        with self._lock:
            if since in (None, "", "0"):
                initial = [
                    (ADDED, o)
                    for o in self._matching(rt, watcher.namespace, watcher.labels, watcher.fields)
                ]
            else:
                try:
                    start = int(str(since))
                except ValueError:
                    raise bad_request(f"invalid resource version: {since!r}") from None
                if start < self._history_floor:
                    raise gone(start, self._history_floor + 1)
                initial = []
                for change in self._history:
                    if change.resource_version > start:
                        event = watcher.translate(change)
                        if event is not None:
                            initial.append(event)
            self._watchers.add(watcher)
            return initial

    def stop_watch(self, watcher: Watcher) -> None:
        with self._lock:
            self._watchers.discard(watcher)

    def bookmark_version(self, watcher: Watcher) -> str | None:
        """The resourceVersion a BOOKMARK may carry now: all changes up to it were delivered."""
        with self._lock:
            return None if watcher.events else str(self._rv)

    def compact(self) -> None:
        """Forget the change history, like an etcd compaction: older watches get 410."""
        with self._lock:
            self._history.clear()
            self._history_floor = self._rv

    def close(self) -> None:
        """End every open watch (the server is stopping)."""
        with self._lock:
            for watcher in list(self._watchers):
                watcher.close()
            self._watchers.clear()

    # -------------------------------------------------- internals: lookups

    def _bucket(self, key: tuple[str, str]) -> dict[tuple[str, str], Obj]:
        return self._buckets.setdefault(key, {})

    @staticmethod
    def _key(obj: Obj) -> tuple[str, str]:
        meta = _meta(obj)
        return (meta.get("namespace") or "", meta["name"])

    def _find(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        return self._bucket(rt.storage_key).get(((namespace or "") if rt.namespaced else "", name))

    def _matching(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
    ) -> list[Obj]:
        bucket = self._bucket(rt.storage_key)
        return [
            obj
            for key, obj in sorted(bucket.items())
            if (namespace is None or key[0] == namespace)
            and (labels is None or labels.matches(obj))
            and (fields is None or fields.matches(obj))
        ]

    def iter_objects(self) -> Iterator[tuple[ResourceType, Obj]]:
        """Every stored object with a served type (controllers scan these)."""
        for key, bucket in list(self._buckets.items()):
            versions = self.registry.versions_of(key)
            if versions:
                for obj in list(bucket.values()):
                    yield versions[0], obj

    @staticmethod
    def present(rt: ResourceType, obj: Obj) -> Obj:
        shown = copy.deepcopy(obj)
        shown["apiVersion"], shown["kind"] = rt.api_version, rt.kind
        return shown

    # --------------------------------------------- internals: write prepare

    def _prepare_create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        managed_fields: list[Obj] | None = None,
        *,
        strict: bool = False,
    ) -> Obj:
        obj = admission.typed_copy(rt, body)
        meta = _meta(obj)
        if rt.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise invalid(
                    rt,
                    "",
                    [
                        cause(
                            "metadata.name",
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                        )
                    ],
                )
            meta["name"] = self._generate_name(rt, namespace, prefix)
        name = meta["name"]
        admission.validate_name(rt, name)
        if rt.namespaced:
            ns = self._bucket(NAMESPACES).get(("", namespace or ""))
            if ns is None:
                raise namespace_not_found(namespace or "")
            if _meta(ns).get("deletionTimestamp"):
                raise forbidden(
                    rt,
                    name,
                    f"unable to create new content in namespace {namespace} because it is being terminated",
                )
        if self._find(rt, namespace, name) is not None:
            raise already_exists(rt, name)
        for server_field in SERVER_METADATA[2:]:
            meta.pop(server_field, None)
        if managed_fields:
            meta["managedFields"] = managed_fields
        if "status" in rt.subresources:
            obj.pop("status", None)  # create cannot set status where /status exists
        admission.default(rt, obj)
        obj = admission.admit(rt, obj, strict=strict)
        meta = _meta(obj)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if rt.tracks_generation:
            meta["generation"] = 1
        return obj

    def _generate_name(self, rt: ResourceType, namespace: str | None, prefix: str) -> str:
        while True:
            name = prefix[:58] + "".join(random.choices(_NAME_CHARS, k=5))
            if self._find(rt, namespace, name) is None:
                return name

    def _prepare_update(
        self,
        rt: ResourceType,
        current: Obj,
        body: Any,
        *,
        name: str,
        namespace: str | None,
        subresource: str | None,
        require_rv: bool,
        managed_fields: list[Obj] | None = None,
        strict: bool = False,
    ) -> Obj:
        """The object a PUT/PATCH body turns `current` into, after the server's rules."""
        admission.check_name_matches(rt, body, name, namespace)
        candidate = admission.typed_copy(rt, body)
        asked, cur = _meta(candidate), _meta(current)
        rv = asked.get("resourceVersion")
        if rv in (None, ""):
            if require_rv:
                raise invalid(
                    rt,
                    name,
                    [
                        cause(
                            "metadata.resourceVersion",
                            "FieldValueInvalid",
                            "Invalid value: 0x0: must be specified for an update",
                        )
                    ],
                )
        elif str(rv) != cur["resourceVersion"]:
            raise conflict(rt, name)
        if asked.get("uid") and asked["uid"] != cur["uid"]:
            raise conflict(
                rt,
                name,
                f"Precondition failed: UID in precondition: {asked['uid']}, UID in object meta: {cur['uid']}",
            )

        if subresource == "status":
            # Only .status changes through /status; metadata and spec stay as they are.
            new = copy.deepcopy(current)
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
            new = admission.admit(rt, new, strict=strict)
        else:
            new = candidate
            meta = _meta(new)
            for server_field in SERVER_METADATA:
                if server_field in cur:
                    meta[server_field] = copy.deepcopy(cur[server_field])
                else:
                    meta.pop(server_field, None)
            if "status" in rt.subresources:
                # The main resource ignores .status where /status exists.
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
                else:
                    new.pop("status", None)
            if cur.get("deletionTimestamp"):
                added = [
                    f
                    for f in meta.get("finalizers") or []
                    if f not in (cur.get("finalizers") or [])
                ]
                if added:
                    raise invalid(
                        rt,
                        name,
                        [
                            cause(
                                "metadata.finalizers",
                                "FieldValueForbidden",
                                f"Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {_go_strings(added)}",
                            )
                        ],
                    )
            admission.default(rt, new)
            new = admission.admit(rt, new, strict=strict)
            if rt.tracks_generation and _content(new) != _content(current):
                _meta(new)["generation"] = int(cur.get("generation", 0)) + 1
        if managed_fields is not None:
            _meta(new)["managedFields"] = managed_fields
        return new

    def _apply(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        current: Obj | None,
        applied: Any,
        subresource: str | None,
        field_manager: str | None,
        dry_run: bool,
        strict: bool,
    ) -> tuple[Obj, bool]:
        if not field_manager:
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
                {
                    "kind": "PatchOptions",
                    "group": "meta.k8s.io",
                    "causes": [
                        cause(
                            "fieldManager",
                            "FieldValueRequired",
                            "Required value: is required for apply patch",
                        )
                    ],
                },
            )
        if (
            not isinstance(applied, dict)
            or not applied.get("apiVersion")
            or not applied.get("kind")
        ):
            raise bad_request(
                "invalid object: apiVersion and kind must be set in an applied configuration"
            )
        admission.check_name_matches(rt, applied, name, namespace)
        has_status = "status" in rt.subresources
        live = None if current is None else self.present(rt, current)
        merged = server_side_apply(
            live,
            applied,
            field_manager,
            subresource=subresource,
            has_status=has_status,
            now=now_rfc3339(),
        )
        managed = _meta(merged)["managedFields"]
        if current is None:
            if subresource is not None:
                raise not_found(rt, name)
            obj = self._prepare_create(rt, namespace, merged, managed_fields=managed, strict=strict)
            if dry_run:
                return self.present(rt, obj), True
            created = self._insert(rt, obj)
            self._settle()
            return self.present(rt, created), True
        new = self._prepare_update(
            rt,
            current,
            merged,
            name=name,
            namespace=namespace,
            subresource=subresource,
            require_rv=False,
            managed_fields=managed,
            strict=strict,
        )
        return self._finish(rt, current, new, dry_run=dry_run), False

    def _finish(self, rt: ResourceType, current: Obj, new: Obj, *, dry_run: bool) -> Obj:
        if dry_run:
            return self.present(rt, new)
        result = self.write(rt, current, new)
        self._settle()
        return self.present(rt, result)

    # ---------------------------------- internals: commits (lock held)
    # Controllers (controllers.py) use write/delete_object/remove directly.

    def write(self, rt: ResourceType, current: Obj, new: Obj) -> Obj:
        """Commit `new` over `current`: skip no-ops, remove once the last finalizer went away."""
        if new == current:
            return current
        meta = _meta(new)
        if (
            rt.storage_key in (NAMESPACES, CRDS)
            or self._needs_gc(meta)
            or self._needs_gc(_meta(current))
        ):
            self._dirty = True
        foreground = bool(meta.get("deletionTimestamp")) and "foregroundDeletion" in (
            meta.get("finalizers") or []
        )
        if foreground:
            self._foreground.add(meta["uid"])
        else:
            self._foreground.discard(meta["uid"])
        if meta.get("deletionTimestamp"):
            self._dirty = True
            if not meta.get("finalizers") and rt.storage_key != NAMESPACES:
                return self.remove(rt, new)
        meta["resourceVersion"] = self._next_rv()
        self._bucket(rt.storage_key)[self._key(new)] = new
        self._record(MODIFIED, rt, new, current)
        return new

    def delete_object(self, rt: ResourceType, current: Obj, propagation: str) -> tuple[Obj, bool]:
        meta = _meta(current)
        if propagation == "Orphan":
            controllers.orphan_dependents(self, meta["uid"])
            current = self._find(rt, meta.get("namespace"), meta["name"]) or current
            meta = _meta(current)
        if meta.get("deletionTimestamp"):
            return current, False
        finalizers = list(meta.get("finalizers") or [])
        if propagation == "Foreground" and FOREGROUND not in finalizers:
            finalizers.append(FOREGROUND)
        if not finalizers and rt.storage_key != NAMESPACES:
            return self.remove(rt, current), True
        new = copy.deepcopy(current)
        new_meta = _meta(new)
        new_meta["deletionTimestamp"] = now_rfc3339()
        new_meta["deletionGracePeriodSeconds"] = 0
        if finalizers:
            new_meta["finalizers"] = finalizers
        if rt.tracks_generation:
            new_meta["generation"] = int(new_meta.get("generation", 0)) + 1
        if rt.storage_key == NAMESPACES:
            new["status"] = {**(new.get("status") or {}), "phase": "Terminating"}
        return self.write(rt, current, new), False

    def remove(self, rt: ResourceType, obj: Obj) -> Obj:
        gone_obj = copy.deepcopy(obj)
        _meta(gone_obj)["resourceVersion"] = self._next_rv()
        del self._bucket(rt.storage_key)[self._key(obj)]
        self._uids.discard(_meta(obj)["uid"])
        self._foreground.discard(_meta(obj)["uid"])
        self._record(DELETED, rt, gone_obj, obj)
        self._dirty = True
        return gone_obj

    def _needs_gc(self, meta: Obj) -> bool:
        """True when a dependent's owner is gone or deleting in the foreground."""
        return any(
            ref.get("uid") not in self._uids or ref.get("uid") in self._foreground
            for ref in meta.get("ownerReferences") or []
        )

    def _insert(self, rt: ResourceType, obj: Obj) -> Obj:
        _meta(obj)["resourceVersion"] = self._next_rv()
        self._bucket(rt.storage_key)[self._key(obj)] = obj
        self._uids.add(_meta(obj)["uid"])
        self._record(ADDED, rt, obj, None)
        if rt.storage_key in (NAMESPACES, CRDS) or self._needs_gc(_meta(obj)):
            self._dirty = True
        return obj

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _record(self, kind: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        change = Change(
            int(_meta(obj)["resourceVersion"]),
            kind,
            rt.storage_key,
            _meta(obj).get("namespace") or "",
            obj,
            old,
        )
        self._history.append(change)
        while len(self._history) > self.history_size:
            self._history_floor = self._history.popleft().resource_version
        for watcher in list(self._watchers):
            watcher.offer(change)

    def _settle(self) -> None:
        """Run the controllers until nothing changes (GC, namespaces, CRDs)."""
        if self._settling or not self._dirty:
            return
        self._settling = True
        try:
            while self._dirty:
                self._dirty = False
                controllers.reconcile(self)
        finally:
            self._settling = False
