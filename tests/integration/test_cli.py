"""`wafleet status` and `wafleet qr` against the API emulator, as a person runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.conftest import Cluster

WAFLEET = Path(sys.executable).with_name("wafleet")


def wafleet(kube_api: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kube_api.kubeconfig), "COLUMNS": "200"}
    return subprocess.run(
        [str(WAFLEET), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_status_lists_accounts_with_phase_and_holder(cluster: Cluster, kube_api: Any) -> None:
    cluster.create_account("tina", {"phoneNumber": "+15550100001", "engine": "local"})
    cluster.patch_account_status(
        "tina", {"status": {"phase": "Connected", "leaseHolder": "waa-tina-0", "fencingToken": 3}}
    )
    done = wafleet(kube_api, "status")
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if "tina" in line)
    for cell in ("default", "+15550100001", "local", "Connected", "waa-tina-0", "3"):
        assert cell in row


def test_qr_draws_the_payload_while_awaiting_login(cluster: Cluster, kube_api: Any) -> None:
    cluster.create_account("uma", {"phoneNumber": "+15550100001", "engine": "local"})
    not_yet = wafleet(kube_api, "qr", "uma")
    assert not_yet.returncode == 1
    assert "not awaiting login" in not_yet.stderr
    cluster.patch_account_status(
        "uma", {"status": {"phase": "AwaitingLogin", "loginQr": "2@abc,def,ghi"}}
    )
    done = wafleet(kube_api, "qr", "uma")
    assert done.returncode == 0, done.stderr
    drawing = [line for line in done.stdout.splitlines() if line and set(line) <= set("█▀▄ \xa0")]
    assert len(drawing) >= 10  # a drawn code (two modules per character row), not a line of text
    assert len({len(line) for line in drawing}) == 1  # square: every row as wide as the others


def test_missing_account_and_unreachable_server_are_clear(
    cluster: Cluster, kube_api: Any, tmp_path: Path
) -> None:
    missing = wafleet(kube_api, "qr", "nobody")
    assert missing.returncode == 1
    assert "404" in missing.stderr
    assert "nobody" in missing.stderr
    broken = tmp_path / "kubeconfig"
    broken.write_text(kube_api.kubeconfig.read_text().replace(kube_api.url, "http://127.0.0.1:9"))
    env = {**os.environ, "KUBECONFIG": str(broken)}
    done = subprocess.run(
        [str(WAFLEET), "status"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 1
    assert "cannot reach the API server" in done.stderr
