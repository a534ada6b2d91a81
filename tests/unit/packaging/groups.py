"""pyproject.toml's dependency groups, resolved the way pip resolves them for an image.

The development venv holds every group (`make venv` installs `dev`), each at
its pin from requirements/constraints.txt, so walking the installed metadata
from a group's requirements (markers evaluated for this Python and platform,
the images' too: CPython 3.11 on Linux) gives the set of distributions an
image installing that group gets, at the versions it gets them.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

REPO = Path(__file__).resolve().parents[3]
PYPROJECT = REPO / "pyproject.toml"
CONSTRAINTS = REPO / "requirements" / "constraints.txt"
DIRECT_IN = REPO / "requirements" / "direct.in"

#: The runtime packages the distribution ships, and where their sources are.
PACKAGE_DIRS = {
    "wafleet_operator": REPO / "operator" / "wafleet_operator",
    "session_runner": REPO / "session_runner",
}
FIRST_PARTY = frozenset(PACKAGE_DIRS)


@cache
def group_script() -> ModuleType:
    """requirements/group.py, the script the Dockerfiles run."""
    spec = importlib.util.spec_from_file_location(
        "wafleet_requirements_group", REPO / "requirements" / "group.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def requirements(*groups: str) -> list[Requirement]:
    """`dependencies` plus `groups` (with `wafleet[...]` expanded), as group.py prints them."""
    return [Requirement(line) for line in group_script().requirements(list(groups), PYPROJECT)]


def direct_names(*groups: str) -> set[NormalizedName]:
    return {canonicalize_name(req.name) for req in requirements(*groups)}


@cache
def closure(*groups: str) -> dict[NormalizedName, str]:
    """Every distribution installing `groups` brings, with its installed version."""
    found: dict[NormalizedName, str] = {}
    done: set[tuple[NormalizedName, frozenset[str]]] = set()
    todo = requirements(*groups)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in done:
            continue
        done.add(key)
        dist = md.distribution(req.name)
        found[name] = dist.version
        environments = [{"extra": extra} for extra in (req.extras or {""})]
        for line in dist.requires or []:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate(env) for env in environments):
                todo.append(sub)
    return found


def pins(path: Path = CONSTRAINTS) -> dict[NormalizedName, str]:
    """`name==version` lines of a requirements file (extras dropped)."""
    out: dict[NormalizedName, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{path.name}: {line!r} is not pinned with =="
        out[canonicalize_name(req.name)] = spec.version
    return out


@cache
def import_names() -> dict[str, set[NormalizedName]]:
    """Top-level import name -> the installed distributions that provide it."""
    return {
        name: {canonicalize_name(dist) for dist in dists}
        for name, dists in md.packages_distributions().items()
    }


def modules(package: str) -> Iterator[tuple[str, Path]]:
    """(dotted name, source file) of every module of a runtime package."""
    root = PACKAGE_DIRS[package]
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join((package, *parts)), path


def imported_top_levels(path: Path) -> set[str]:
    """Absolute imports anywhere in a file (lazy ones in functions too), by top-level name."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def third_party(names: set[str]) -> set[str]:
    return {n for n in names if n not in sys.stdlib_module_names and n not in FIRST_PARTY}
