"""End-to-end tests on a kind cluster; skipped, with the reason, where Docker or kind is absent."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KUBECTL = REPO / ".tools" / "bin" / "kubectl"
CLUSTER = os.environ.get("CLUSTER", "wafleet")


def why_no_kind() -> str | None:
    """The reason kind cannot run here, or None when it can."""
    if shutil.which("kind") is None:
        return "kind is not installed (no registry reachable from here ships it)"
    if shutil.which("docker") is None:
        return "docker is not installed"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return "no Docker engine answers `docker info` (the client alone cannot run kind)"
    return None


HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark (and, without kind, skip) only this folder's tests: the hook sees every item."""
    reason = why_no_kind()
    for item in items:
        if HERE not in item.path.parents:
            continue
        item.add_marker(pytest.mark.e2e)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    context = ["--context", f"kind-{CLUSTER}"]
    return subprocess.run(
        [str(KUBECTL), *context, *args], capture_output=True, text=True, check=check
    )


@pytest.fixture(scope="session")
def kind_cluster() -> str:
    """A kind cluster with the images loaded and the chart installed (`make kind-up deploy`)."""
    subprocess.run(["make", "-C", str(REPO), "kind-up", "deploy"], check=True)
    return f"kind-{CLUSTER}"
