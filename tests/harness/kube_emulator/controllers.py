"""What a cluster's control plane does after a write, done at once.

A real cluster runs these as controllers that react within moments; tests
would only poll for them, so the store runs them synchronously right after
each write that could matter (until nothing changes any more):

- the CRD controller: serves a CRD's versions, sets its status
  (NamesAccepted/Established=True, acceptedNames, storedVersions), adds the
  `customresourcecleanup.apiextensions.k8s.io` finalizer, and on deletion
  deletes every custom resource of it before letting the CRD go;
- the garbage collector: deletes (background) an object once every owner
  named in its ownerReferences (by uid) is gone; an owner being deleted in
  the foreground counts as gone for its dependents and loses its
  `foregroundDeletion` finalizer once no dependent with
  blockOwnerDeletion=true is left. Simplified: owners are matched by uid
  only (kind/name/namespace of the reference are not checked) and
  dependents are always deleted with background propagation;
- the namespace controller: a deleted namespace is Terminating, all objects
  in it are deleted, and it disappears once it is empty.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .resources import CRD_GROUP, CRD_PLURAL

if TYPE_CHECKING:
    from .resources import ResourceType
    from .store import ObjectStore

Obj = dict[str, Any]

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
FOREGROUND = "foregroundDeletion"


def reconcile(store: ObjectStore) -> None:
    sync_crds(store)
    collect_garbage(store)
    finish_namespaces(store)


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj["metadata"]
    return meta


def _current(store: ObjectStore, rt: ResourceType, obj: Obj) -> Obj | None:
    """The stored version of `obj` now: controllers act on snapshots that earlier steps may have changed."""
    meta = _meta(obj)
    return store._find(rt, meta.get("namespace"), meta["name"])


def _live(store: ObjectStore) -> Iterator[tuple[ResourceType, Obj]]:
    """Each object as stored at the moment it is visited."""
    for rt, seen in list(store.iter_objects()):
        current = _current(store, rt, seen)
        if current is not None:
            yield rt, current


def _accepted_names(crd: Obj) -> Obj:
    names = dict(crd["spec"]["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", f"{names['kind']}List")
    return names


def _crd_status(crd: Obj, now: str) -> Obj:
    status = dict(crd.get("status") or {})
    storage = next(v["name"] for v in crd["spec"]["versions"] if v.get("storage"))
    conditions = {c["type"]: c for c in status.get("conditions") or []}
    for ctype, reason, message in (
        ("NamesAccepted", "NoConflicts", "no conflicts found"),
        ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ):
        if conditions.get(ctype, {}).get("status") != "True":
            conditions[ctype] = {
                "type": ctype,
                "status": "True",
                "lastTransitionTime": now,
                "reason": reason,
                "message": message,
            }
    status["conditions"] = list(conditions.values())
    status["acceptedNames"] = _accepted_names(crd)
    status["storedVersions"] = sorted(set(status.get("storedVersions") or []) | {storage})
    return status


def sync_crds(store: ObjectStore) -> None:
    from .store import now_rfc3339

    crd_rt = store.registry.find(f"{CRD_GROUP}/v1", CRD_PLURAL)
    present = set()
    for crd in list(store._bucket(crd_rt.storage_key).values()):
        meta = _meta(crd)
        present.add(meta["name"])
        if meta.get("deletionTimestamp"):
            if CLEANUP_FINALIZER in (meta.get("finalizers") or []):
                _clean_up_crd(store, crd)
            continue
        store.registry.register_crd(crd)
        new = copy.deepcopy(crd)
        new["status"] = _crd_status(crd, now_rfc3339())
        if CLEANUP_FINALIZER not in (meta.get("finalizers") or []):
            _meta(new)["finalizers"] = [*(meta.get("finalizers") or []), CLEANUP_FINALIZER]
        store.write(crd_rt, crd, new)
    for name in store.registry.crd_names() - present:
        store.registry.unregister_crd(name)


def _clean_up_crd(store: ObjectStore, crd: Obj) -> None:
    spec = crd["spec"]
    key = (spec["group"], spec["names"]["plural"])
    versions = store.registry.versions_of(key)
    bucket = store._bucket(key)
    if versions:
        for obj in list(bucket.values()):
            if not _meta(obj).get("deletionTimestamp"):
                store.delete_object(versions[0], obj, "Background")
    if not bucket:
        crd_rt = store.registry.find(f"{CRD_GROUP}/v1", CRD_PLURAL)
        new = copy.deepcopy(crd)
        _meta(new)["finalizers"] = [f for f in _meta(crd)["finalizers"] if f != CLEANUP_FINALIZER]
        store.write(crd_rt, crd, new)


def collect_garbage(store: ObjectStore) -> None:
    snapshot = list(store.iter_objects())
    alive = {
        _meta(obj)["uid"]
        for _, obj in snapshot
        if not (
            _meta(obj).get("deletionTimestamp")
            and FOREGROUND in (_meta(obj).get("finalizers") or [])
        )
    }
    for rt, obj in _live(store):
        meta = _meta(obj)
        refs = meta.get("ownerReferences") or []
        if (
            refs
            and not meta.get("deletionTimestamp")
            and not any(r.get("uid") in alive for r in refs)
        ):
            store.delete_object(rt, obj, "Background")
    blocking = {
        ref.get("uid")
        for _, obj in store.iter_objects()
        for ref in _meta(obj).get("ownerReferences") or []
        if ref.get("blockOwnerDeletion")
    }
    for rt, obj in _live(store):
        meta = _meta(obj)
        if (
            meta.get("deletionTimestamp")
            and FOREGROUND in (meta.get("finalizers") or [])
            and meta["uid"] not in blocking
        ):
            new = copy.deepcopy(obj)
            _meta(new)["finalizers"] = [f for f in meta["finalizers"] if f != FOREGROUND]
            store.write(rt, obj, new)


def orphan_dependents(store: ObjectStore, owner_uid: str) -> None:
    """propagationPolicy=Orphan: dependents lose their reference to the owner and stay."""
    for rt, obj in _live(store):
        refs = _meta(obj).get("ownerReferences") or []
        if any(r.get("uid") == owner_uid for r in refs):
            new = copy.deepcopy(obj)
            kept = [r for r in refs if r.get("uid") != owner_uid]
            if kept:
                _meta(new)["ownerReferences"] = kept
            else:
                _meta(new).pop("ownerReferences", None)
            store.write(rt, obj, new)


def finish_namespaces(store: ObjectStore) -> None:
    ns_rt = store.registry.find("v1", "namespaces")
    for ns in list(store._bucket(ns_rt.storage_key).values()):
        meta = _meta(ns)
        if not meta.get("deletionTimestamp"):
            continue
        for rt, obj in _live(store):
            if (
                rt.namespaced
                and _meta(obj).get("namespace") == meta["name"]
                and not _meta(obj).get("deletionTimestamp")
            ):
                store.delete_object(rt, obj, "Background")
        still_there = any(
            rt.namespaced and _meta(obj).get("namespace") == meta["name"]
            for rt, obj in store.iter_objects()
        )
        if not still_there and not meta.get("finalizers"):
            store.remove(ns_rt, ns)
