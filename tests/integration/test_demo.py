"""`make demo`'s local path (scripts/demo_local.py), run as a newcomer runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_local_demo_fails_over_from_a_snapshot_without_a_new_login() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo_local.py")],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "COLUMNS": "400"},
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "snapshotted its new login at once" in out
    assert "fencing token 0 -> 1, session restored from the snapshot" in out
    assert "Stopped" in out
    assert "demo finished" in out
