"""Server-side printing (`Accept: ...;as=Table`): what `kubectl get` shows.

kubectl asks the server for a meta.k8s.io/v1 Table and prints its columns.
Custom resources get Name plus their CRD's additionalPrinterColumns (or Age
when none are declared), as the real server does, so tests can check what
`kubectl get <cr>` tells a user. Built-ins get Name and Age only (the real
server's per-kind columns, e.g. DATA for ConfigMaps, are not reproduced).

The JSONPath subset covers what printer columns use: `.a.b`, `.a[0]`,
`.a[*].b` and filters like `.status.conditions[?(@.type=="Ready")].status`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from .resources import ResourceType

Obj = dict[str, Any]

_TOKEN = re.compile(
    r"\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\*\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]"
)
AGE = {
    "name": "Age",
    "type": "date",
    "jsonPath": ".metadata.creationTimestamp",
    "description": "",
    "priority": 0,
}


def jsonpath(obj: Any, path: str) -> list[Any]:
    """All values `path` selects in `obj` (an empty list when nothing matches)."""
    nodes = [obj]
    for m in _TOKEN.finditer(path.strip().removeprefix("{").removesuffix("}")):
        key, index, filter_key, filter_value = m.groups()
        found: list[Any] = []
        for node in nodes:
            if key is not None and isinstance(node, dict) and key in node:
                found.append(node[key])
            elif index is not None and isinstance(node, list) and int(index) < len(node):
                found.append(node[int(index)])
            elif m.group(0) == "[*]" and isinstance(node, list):
                found.extend(node)
            elif filter_key is not None and isinstance(node, list):
                found.extend(item for item in node if _first_text(item, filter_key) == filter_value)
        nodes = found
    return nodes


def _first_text(item: Any, key: str) -> str | None:
    values = jsonpath(item, "." + key)
    return str(values[0]) if values else None


def _cell(obj: Obj, column: Obj) -> Any:
    values = jsonpath(obj, column.get("jsonPath", ""))
    if not values:
        return None
    value = values[0] if len(values) == 1 else ",".join(str(v) for v in values)
    kind = column.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except (TypeError, ValueError):
        return None
    if kind == "boolean":
        return bool(value)
    if kind == "date":
        return _age(str(value))
    return value if isinstance(value, str) else str(value)


def _age(timestamp: str) -> str:
    """The real server renders date columns as an age ("5m", "3h2m"), like Go's HumanDuration."""
    try:
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return timestamp
    seconds = max(0, int((datetime.now(UTC) - then).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 730:
        return f"{days}d"
    return f"{days // 365}y"


def table(rt: ResourceType, items: list[Obj], resource_version: str, include_object: str) -> Obj:
    columns = [dict(c) for c in rt.printer_columns] or [AGE]
    definitions = [
        {
            "name": "Name",
            "type": "string",
            "format": "name",
            "description": "Name of the object",
            "priority": 0,
        }
    ] + [
        {
            "name": c["name"],
            "type": c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": c.get("priority", 0),
        }
        for c in columns
    ]
    rows = []
    for obj in items:
        if include_object == "Object":
            shown: Obj | None = obj
        elif include_object == "None":
            shown = None
        else:
            shown = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(
            {"cells": [obj["metadata"]["name"], *(_cell(obj, c) for c in columns)], "object": shown}
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
