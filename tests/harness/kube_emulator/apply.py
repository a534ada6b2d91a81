"""Server-side apply (PATCH application/apply-patch+yaml), simplified.

What IS honoured:
- create-if-absent (201), update otherwise (200); `fieldManager` is required (422);
- the applied configuration is merged into the live object: maps merge key by
  key, lists and scalars are replaced as a whole (every list is treated as
  `atomic`), an explicit null removes the field;
- fields this manager applied before and omits now are removed, unless another
  Apply manager also applied them (the core promise of apply: "what I stop
  stating goes away");
- one `managedFields` entry per Apply manager (and subresource) with the
  applied fields as `fieldsV1`; a repeated identical apply is a no-op
  (resourceVersion unchanged);
- a `metadata.resourceVersion` in the applied config is a precondition (409).

What is NOT: ownership conflicts (409 with FieldManagerConflict) are never
raised, so `force` changes nothing; associative lists (`listType: map`, e.g.
containers by name) are not merged item by item; `Update` managers (PUT,
merge/JSON patch) are not recorded in managedFields and do not take fields
over.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]
Path = tuple[str, ...]

SERVER_METADATA = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)


def _leaf_paths(value: Obj, prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for key, child in value.items():
        path = (*prefix, key)
        if isinstance(child, dict) and child:
            paths |= _leaf_paths(child, path)
        else:
            paths.add(path)
    return paths


def applied_paths(applied: Obj, *, subresource: str | None, has_status: bool) -> set[Path]:
    """The field paths an applied configuration states (lists count as one leaf)."""
    body = {k: v for k, v in applied.items() if k not in ("apiVersion", "kind")}
    metadata = {
        k: v for k, v in (body.pop("metadata", None) or {}).items() if k not in SERVER_METADATA
    }
    if metadata:
        body["metadata"] = metadata
    if subresource == "status":
        body = {"status": body["status"]} if "status" in body else {}
    elif has_status:
        body.pop("status", None)
    return _leaf_paths(body)


def to_fields_v1(paths: set[Path]) -> Obj:
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return tree


def from_fields_v1(tree: Obj, prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for key, child in tree.items():
        if not key.startswith("f:"):
            continue
        path = (*prefix, key[2:])
        paths |= from_fields_v1(child, path) if child else {path}
    return paths


def _remove(obj: Obj, path: Path) -> None:
    node: Any = obj
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _merge(live: Any, applied: Any) -> Any:
    if not (isinstance(live, dict) and isinstance(applied, dict)):
        return copy.deepcopy(applied)
    result = copy.deepcopy(live)
    for key, value in applied.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def server_side_apply(
    live: Obj | None,
    applied: Obj,
    manager: str,
    *,
    subresource: str | None,
    has_status: bool,
    now: str,
) -> Obj:
    """The object after applying `applied` as `manager` (metadata.managedFields included)."""
    new_paths = applied_paths(applied, subresource=subresource, has_status=has_status)
    entries: list[Obj] = list(((live or {}).get("metadata") or {}).get("managedFields") or [])

    def is_mine(entry: Obj) -> bool:
        return (
            entry.get("manager") == manager
            and entry.get("operation") == "Apply"
            and entry.get("subresource", "") == (subresource or "")
        )

    mine = [e for e in entries if is_mine(e)]
    others = [e for e in entries if not is_mine(e) and e.get("operation") == "Apply"]
    old_paths = set().union(*(from_fields_v1(e.get("fieldsV1") or {}) for e in mine))
    kept_by_others = set().union(*(from_fields_v1(e.get("fieldsV1") or {}) for e in others))

    result: Obj = copy.deepcopy(live) if live is not None else {}
    for path in old_paths - new_paths - kept_by_others:
        _remove(result, path)
    if subresource == "status":
        if "status" in applied:
            result["status"] = _merge(result.get("status"), applied["status"])
    else:
        result = _merge(result, applied)

    fields = to_fields_v1(new_paths)
    previous = mine[0] if len(mine) == 1 else None
    unchanged = (
        previous is not None
        and previous.get("fieldsV1") == fields
        and previous.get("apiVersion") == applied.get("apiVersion")
    )
    entry: Obj = {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": applied.get("apiVersion", ""),
        # An identical re-apply keeps the old time, so it stays a no-op.
        "time": previous.get("time", now) if previous is not None and unchanged else now,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if subresource:
        entry["subresource"] = subresource
    result.setdefault("metadata", {})["managedFields"] = [e for e in entries if not is_mine(e)] + [
        entry
    ]
    return result
