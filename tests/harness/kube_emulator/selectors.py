"""Label and field selectors with the real API server's grammar and semantics.

Operators and kubectl filter lists and watches server-side
(`labelSelector=app=x,tier!=db`, `fieldSelector=metadata.name=foo`); an
emulator that ignores them hands code objects it never asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, bad_request

Obj = dict[str, Any]

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_SET_RE = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^)]*)\)$")
_NOT_EXISTS_RE = re.compile(rf"^!\s*({_KEY})$")
_COMPARE_RE = re.compile(rf"^({_KEY})\s*(==|=|!=|>|<)\s*({_VALUE})$")
_EXISTS_RE = re.compile(rf"^({_KEY})$")

LabelTest = Callable[[dict[str, str]], bool]


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside `in (...)` value lists."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _requirement(text: str) -> LabelTest:
    if m := _SET_RE.match(text):
        key, op = m[1], m[2]
        values = {v.strip() for v in m[3].split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        # notin also matches objects without the label, as in Kubernetes.
        return lambda labels: labels.get(key) not in values
    if m := _NOT_EXISTS_RE.match(text):
        key = m[1]
        return lambda labels: key not in labels
    if m := _COMPARE_RE.match(text):
        key, op, value = m[1], m[2], m[3]
        if op in ("=", "=="):
            return lambda labels: labels.get(key) == value
        if op == "!=":
            # != matches objects without the label too.
            return lambda labels: labels.get(key) != value
        try:
            bound = int(value)
        except ValueError:
            raise bad_request(
                f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer: {text}"
            ) from None
        greater = op == ">"

        def compare(labels: dict[str, str]) -> bool:
            number = _int_or_none(labels.get(key))
            return number is not None and (number > bound if greater else number < bound)

        return compare
    if m := _EXISTS_RE.match(text):
        key = m[1]
        return lambda labels: key in labels
    raise bad_request(f"unable to parse requirement: {text!r}")


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class LabelSelector:
    """A parsed `labelSelector`; an empty one matches everything."""

    source: str
    tests: tuple[LabelTest, ...]

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        text = text or ""
        return cls(text, tuple(_requirement(r) for r in _split_top_level(text)))

    def matches(self, obj: Obj) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(test(labels) for test in self.tests)


@dataclass(frozen=True)
class FieldSelector:
    """A parsed `fieldSelector` (=, ==, != on the fields the resource type supports)."""

    source: str
    terms: tuple[tuple[str, bool, str], ...]  # (field path, equal?, value)

    @classmethod
    def parse(cls, text: str | None, supported: tuple[str, ...]) -> FieldSelector:
        terms = []
        for part in _split_top_level(text or ""):
            m = re.match(r"^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$", part)
            if not m:
                raise bad_request(f"invalid selector: '{part}'; can't understand '{part}'")
            path, op, value = m[1], m[2], m[3].strip()
            if path not in supported:
                raise ApiError(400, "BadRequest", f"field label not supported: {path}")
            terms.append((path, op != "!=", value))
        return cls(text or "", tuple(terms))

    def matches(self, obj: Obj) -> bool:
        return all((_field_value(obj, path) == value) is equal for path, equal, value in self.terms)

    def exact_name(self) -> str | None:
        """The name a `metadata.name=x` term pins (a single-object watch)."""
        for path, equal, value in self.terms:
            if path == "metadata.name" and equal:
                return value
        return None


def _field_value(obj: Obj, path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, dict):  # e.g. an Event's `source` is {component, host}
        return str(node.get("component", ""))
    return str(node)
