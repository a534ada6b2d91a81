"""`make demo`'s local path (`python -m scripts.demo_local`), run as make runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.harness.control_plane import find_assets

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_fails_over_and_runs_the_account_on_the_real_control_plane() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.demo_local"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=480,
        env={**os.environ, "COLUMNS": "400"},
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "snapshotted its new login at once" in out
    assert "fencing token 0 -> 1, session restored from the snapshot" in out
    assert "Stopped" in out
    if isinstance(find_assets(), str) and os.environ.get("CI") != "true":
        assert "The operator on Kubernetes: skipped" in out
        return
    # The operator part, on the real control plane: the runner of pod waa-demo-0 makes the account Ready and Connected.
    assert "whatsappaccount.wafleet.io/demo condition met" in out
    assert re.search(r"demo\s+\+15550100001\s+local\s+Connected\s+True\s+waa-demo-0\b", out)
    # Verify on demand: whole, then a flipped byte found, then repaired by the next snapshot.
    verdicts = re.findall(r"default/demo: (OK|DAMAGED):.*?\(exit (\d)\)", out, re.DOTALL)
    assert verdicts == [("OK", "0"), ("DAMAGED", "1"), ("OK", "0")]
    assert "SnapshotHealthy reason: SnapshotCorrupt" in out
    # Outbound: through the account's own session (to read), and through Twilio's stand-in.
    assert re.search(r"demo-order-1: sent \(vendor id 3EB0\w+\), read", out)
    assert re.search(r"ledger demo-order-1: SENT by waa-demo-0-t\d+-\w+, .*fencing token", out)
    assert re.search(r"otp-4711: sent \(vendor id SM\w+\)", out)
    assert "the Twilio stand-in received otp-4711 1 time(s)" in out
    assert "Twilio's signed status callback reached the ingest: the ledger says sent" in out
    assert re.search(r"message\.read\s+session\s+message demo-order-1", out)
    assert re.search(r"message\.sent\s+twilio\s+message otp-4711", out)
    # A deleted pod is replaced by the StatefulSet controller and restores the session.
    assert "restored the session from the snapshot: fencing token 2 -> 3, no new QR scan" in out
    assert "phase: Suspended, StatefulSet replicas: 0" in out
    assert "demo finished" in out
