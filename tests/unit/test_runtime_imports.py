"""What the images install is what the code imports.

The images install only `[project] dependencies` from pyproject.toml; the
development venv has more (the test clients). A runtime module importing a
test-only package would pass every test here and fail in the pod, so each
entry point is imported in a fresh interpreter with those packages blocked.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

#: Installed for tests only (requirements/direct.in, "development and test").
TEST_ONLY = ("kubernetes", "moto", "pytest", "hypothesis", "jsonschema")

ENTRY_POINTS = ("wafleet_operator.main", "session_runner.main", "session_runner.cli.app")


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_entry_point_imports_without_test_only_packages(module: str) -> None:
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in TEST_ONLY)
    code = f"import sys; {blocked}; import {module}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
