"""What each image installs is what its code imports.

Dockerfile.operator installs pyproject's `dependencies` and the `operator`
group, Dockerfile.runner `dependencies` and `runner`; the development venv has
every group (tests/unit/packaging/groups.py resolves them). A module importing
a package its image lacks would pass every test here and fail in the pod, so
each image's modules are imported in a fresh interpreter with every installed
package outside that image's group blocked (`sys.modules[name] = None`: an
import of it raises ImportError, exactly as where it is not installed; optional
imports such as kopf's of the synchronous `kubernetes` client take their
fallback, as in the image).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from packaging.utils import canonicalize_name

from tests.unit.packaging import groups

#: (group, entry module, modules that must import with only that group installed).
IMAGES = {
    # The operator image: all of wafleet_operator (crdgen too: `make crds` needs
    # no dev package) and whatever of session_runner it imports.
    "operator": ("wafleet_operator.main", ["wafleet_operator"]),
    # The runner image: all of session_runner but the laptop CLI.
    "runner": ("session_runner.main", ["session_runner"]),
    # `wafleet` / `kubectl wafleet` (`pip install 'wafleet[cli]'`).
    "cli": ("session_runner.cli.app", []),
}
NOT_IN_RUNNER = ("session_runner.cli",)

#: Packages no image may load when its entry module is imported, by name, even
#: when a group would bring them (the reason the operator image exists apart).
NEVER_IN_OPERATOR = ("playwright", "neonize", "greenlet", "typer", "qrcode", "jsonschema")

_AUDIT = """
import importlib, json, sys
blocked, entry, packages, skip = json.loads(sys.argv[1])
for name in blocked:
    if name not in sys.modules:  # not what .pth files loaded at start-up
        sys.modules[name] = None
failures = {}
importlib.import_module(entry)
for package in packages:
    import pkgutil
    root = importlib.import_module(package)
    names = [m.name for m in pkgutil.walk_packages(root.__path__, package + ".", onerror=print)]
    for name in names:
        if any(name == s or name.startswith(s + ".") for s in skip):
            continue
        try:
            importlib.import_module(name)
        except ImportError as error:
            failures[name] = repr(error)
loaded = sorted(m for m, v in list(sys.modules.items()) if v is not None)
print(json.dumps({"failures": failures, "loaded": loaded}))
"""


def _blocked(group: str) -> list[str]:
    """Installed top-level import names that installing `group` does not bring."""
    allowed = set(groups.closure(group)) | {canonicalize_name("wafleet")}
    return sorted(
        name
        for name, dists in groups.import_names().items()
        if not dists & allowed and name not in groups.FIRST_PARTY and name != "tests"
    )


def _audit(group: str, entry: str, packages: list[str], skip: tuple[str, ...] = ()) -> dict:
    argument = json.dumps([_blocked(group), entry, packages, list(skip)])
    done = subprocess.run(
        [sys.executable, "-c", _AUDIT, argument],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("group", list(IMAGES))
def test_every_module_of_an_image_imports_with_only_its_group(group: str) -> None:
    entry, packages = IMAGES[group]
    skip = NOT_IN_RUNNER if group == "runner" else ()
    result = _audit(group, entry, packages, skip)
    assert result["failures"] == {}


def test_operator_entry_point_loads_no_runner_engine_or_dev_package() -> None:
    """The operator's session_runner imports (settings, snapshot layout/manifest/
    ownership, annotations, keyrule, the engine registry's constants) load no engine."""
    assert not set(NEVER_IN_OPERATOR) & set(groups.closure("operator"))
    entry, _ = IMAGES["operator"]
    loaded = _audit("operator", entry, [])["loaded"]
    tops = {name.split(".")[0] for name in loaded}
    assert not set(NEVER_IN_OPERATOR) & tops
    assert "tests" not in tops
    runner_modules = {name for name in loaded if name.startswith("session_runner.")}
    for heavy in ("engines.browser", "engines.protocol", "runner", "cli"):
        assert not {m for m in runner_modules if m.startswith(f"session_runner.{heavy}")}
    assert "session_runner.contract.settings" in runner_modules  # the audit saw the real import


def test_the_blocking_works() -> None:
    """The audit notices a module importing a package outside its group."""
    done = subprocess.run(
        [sys.executable, "-c", _AUDIT, json.dumps([_blocked("operator"), "playwright", [], []])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr or "ImportError" in done.stderr
