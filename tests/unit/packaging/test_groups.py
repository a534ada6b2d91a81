"""pyproject.toml's groups, the pins and the imports agree.

Every third-party import of a runtime module is declared in its image's group
(or the shared `dependencies`), every declared requirement is imported by the
code of its group, every package a group brings is pinned, and nothing is
pinned that no group brings.
"""

from __future__ import annotations

import tomllib

import pytest
from packaging.utils import NormalizedName, canonicalize_name

from tests.unit.packaging import groups

PROJECT = tomllib.loads(groups.PYPROJECT.read_text(encoding="utf-8"))["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

#: Which group's code each runtime module is: the images' and the laptop CLI's.
#: (The operator image also loads the session_runner modules it imports; the
#: import audit in tests/unit/test_runtime_imports.py covers those.)
RUNTIME_GROUPS = ("operator", "runner", "cli")

#: Imported directly, installed and versioned by their declared parent: boto3
#: pins botocore's range, pydantic pins pydantic-core exactly.
PROVIDED_BY = {"botocore": "boto3", "pydantic-core": "pydantic"}

#: Development-only imports inside runtime packages, imported lazily (never at
#: module import; the audit in test_runtime_imports.py proves that).
DEV_ONLY_IMPORTS = {"wafleet_operator.crdgen": {"jsonschema"}}

#: Declared for a library that loads them itself: uvicorn's `http="httptools"`
#: (session_runner/api/main.py) imports httptools by that name.
LOADED_BY_NAME: dict[str, set[str]] = {"runner": {"httptools"}}

#: Declared nowhere until the work that uses them lands (see pyproject.toml).
NOT_YET = ("kmock",)


def _group_of(module: str) -> str:
    if module.startswith("wafleet_operator"):
        return "operator"
    if module.startswith("session_runner.cli"):
        return "cli"
    return "runner"


def _dists(import_name: str) -> set[NormalizedName]:
    dists = groups.import_names().get(import_name)
    assert dists, f"{import_name} is imported but no installed distribution provides it"
    return dists


def _imports_by_group() -> dict[str, dict[str, set[NormalizedName]]]:
    """group -> module -> distributions it imports (lazy imports included)."""
    out: dict[str, dict[str, set[NormalizedName]]] = {g: {} for g in RUNTIME_GROUPS}
    for package in groups.PACKAGE_DIRS:
        for module, path in groups.modules(package):
            names = groups.third_party(groups.imported_top_levels(path))
            names -= DEV_ONLY_IMPORTS.get(module, set())
            dists: set[NormalizedName] = set()
            for name in names:
                dists |= _dists(name)
            out[_group_of(module)][module] = {
                canonicalize_name(PROVIDED_BY.get(d, d)) for d in dists
            }
    return out


def test_the_groups_exist_and_dev_holds_every_other() -> None:
    assert set(EXTRAS) == {"operator", "runner", "cli", "dev"}
    assert groups.direct_names("dev") >= groups.direct_names(*RUNTIME_GROUPS)


def test_the_operator_group_brings_no_engine_and_the_runner_no_operator() -> None:
    operator = set(groups.closure("operator"))
    runner = set(groups.closure("runner"))
    assert not {"playwright", "neonize", "greenlet", "typer", "qrcode"} & operator
    assert {"kopf", "kubernetes-asyncio", "kubernetes"}.isdisjoint(runner)
    assert {"playwright", "neonize", "aiohttp"} <= runner
    dev_only = {"pytest", "moto", "hypothesis", "jsonschema", "kubernetes", "ruff", "mypy"}
    for group in RUNTIME_GROUPS:
        assert not dev_only & set(groups.closure(group)), group


@pytest.mark.parametrize("group", RUNTIME_GROUPS)
def test_every_import_is_declared_in_its_group(group: str) -> None:
    declared = groups.direct_names(group)
    undeclared = {
        module: sorted(dists - declared)
        for module, dists in _imports_by_group()[group].items()
        if dists - declared
    }
    assert undeclared == {}, f"imported by {group} code, not in its group or dependencies"


def test_every_declared_requirement_is_imported() -> None:
    imports = _imports_by_group()
    everything = set().union(*(d for g in imports.values() for d in g.values()))
    unused = {}
    for group in RUNTIME_GROUPS:
        used = set().union(*imports[group].values()) | LOADED_BY_NAME.get(group, set())
        own = {canonicalize_name(r.split("[")[0]) for r in EXTRAS[group]}
        if own - used:
            unused[group] = sorted(own - used)
    core = {canonicalize_name(r.split("[")[0]) for r in PROJECT["dependencies"]}
    if core - everything:
        unused["dependencies"] = sorted(core - everything)
    assert unused == {}


def test_every_package_of_every_group_is_pinned_and_nothing_else() -> None:
    pins = groups.pins()
    for group in EXTRAS:
        resolved = groups.closure(group)
        assert sorted(set(resolved) - set(pins)) == [], f"{group}: not in constraints.txt"
        wrong = {n: (v, pins[n]) for n, v in resolved.items() if v != pins[n]}
        assert wrong == {}, f"{group}: installed version differs from its pin"
    assert sorted(set(pins) - set(groups.closure("dev"))) == [], "pinned but no group needs it"


def test_direct_in_pins_exactly_the_declared_requirements() -> None:
    direct = groups.pins(groups.DIRECT_IN)
    assert set(direct) == groups.direct_names("dev")
    pins = groups.pins()
    assert {n: v for n, v in direct.items() if pins.get(n) != v} == {}


def test_not_yet_used_packages_are_declared_nowhere() -> None:
    pins = groups.pins()
    for name in NOT_YET:
        assert name not in groups.direct_names("dev")
        assert canonicalize_name(name) not in pins
