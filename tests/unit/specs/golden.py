"""Golden files for the spec builders: what the operator applies, pinned field by field.

``golden/<case>.yaml`` holds every child of one case's account, in apply
order, as one multi-document YAML file, so a reviewer reads exactly what the
operator sends for that account. Each builder's test compares its object with
its document there; the children test compares the whole file.

A builder whose output is not a child object (the runner's settings and their
environment) has its own one-document file, ``golden/<case>.<builder>.yaml``,
compared as a whole.

After an intended change, regenerate with ``UPDATE_GOLDEN=1 pytest tests/unit/specs``
and review the diff of the YAML files like any other code change.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from wafleet_operator.specs import APPLY_ORDER

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE_HINT = "run UPDATE_GOLDEN=1 pytest tests/unit/specs"
HEADER = (
    "# Generated from the builders in operator/wafleet_operator/specs; do not edit.\n"
    f"# To regenerate after an intended change: {UPDATE_HINT}\n"
)


def updating() -> bool:
    """Whether this run rewrites the golden files instead of checking them."""
    return os.environ.get("UPDATE_GOLDEN", "").lower() in {"1", "true", "yes"}


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return str(obj["kind"]), str(obj["metadata"]["name"])


def _order(obj: dict[str, Any]) -> tuple[int, str]:
    kind, name = _key(obj)
    return (APPLY_ORDER.index(kind) if kind in APPLY_ORDER else len(APPLY_ORDER), name)


def _dump(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False, width=100)


def _normalise(obj: dict[str, Any]) -> dict[str, Any]:
    """What the object looks like after a trip through YAML (the golden's form)."""
    loaded: dict[str, Any] = yaml.safe_load(yaml.safe_dump(obj, sort_keys=False))
    return loaded


def golden_path(case: str) -> Path:
    return GOLDEN_DIR / f"{case}.yaml"


def load_golden(case: str) -> list[dict[str, Any]]:
    path = golden_path(case)
    if not path.exists():
        return []
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _write(case: str, objects: list[dict[str, Any]]) -> None:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    golden_path(case).write_text(HEADER + _dump(sorted(objects, key=_order)))


def _diff(case: str, expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> str:
    return "".join(
        difflib.unified_diff(
            _dump(expected).splitlines(keepends=True),
            _dump(actual).splitlines(keepends=True),
            fromfile=f"golden/{case}.yaml",
            tofile="built",
        )
    )


def check_golden(case: str, obj: dict[str, Any]) -> None:
    """Compare one built object with its document in ``golden/<case>.yaml``."""
    docs = load_golden(case)
    actual = _normalise(obj)
    expected = next((doc for doc in docs if _key(doc) == _key(actual)), None)
    if updating():
        others = [doc for doc in docs if _key(doc) != _key(actual)]
        _write(case, [*others, actual])
        return
    if expected != actual:
        kind, name = _key(actual)
        pytest.fail(
            f"{kind} {name} differs from golden/{case}.yaml:\n"
            f"{_diff(case, [expected] if expected else [], [actual])}\n"
            f"If the change is intended, {UPDATE_HINT}",
            pytrace=False,
        )


def check_golden_file(case: str, objects: list[dict[str, Any]]) -> None:
    """Compare every built object, in order, with the whole of ``golden/<case>.yaml``."""
    actual = [_normalise(obj) for obj in objects]
    if updating():
        _write(case, actual)
        return
    expected = load_golden(case)
    if expected != actual:
        pytest.fail(
            f"the children differ from golden/{case}.yaml:\n"
            f"{_diff(case, expected, actual)}\n"
            f"If the change is intended, {UPDATE_HINT}",
            pytrace=False,
        )


def check_golden_document(name: str, document: dict[str, Any]) -> None:
    """Compare one document that is not a child object with the whole of ``golden/<name>.yaml``."""
    actual = _normalise(document)
    if updating():
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        golden_path(name).write_text(HEADER + _dump([actual]))
        return
    expected = load_golden(name)
    if expected != [actual]:
        pytest.fail(
            f"the built document differs from golden/{name}.yaml:\n"
            f"{_diff(name, expected, [actual])}\n"
            f"If the change is intended, {UPDATE_HINT}",
            pytrace=False,
        )
