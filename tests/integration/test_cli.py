"""`wafleet status`, `qr` and `verify` against the real API server, as a person runs them.

The kubeconfig's context defaults to the test's namespace, as a person's usually names theirs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from tests.integration.conftest import WAFLEET, Cluster, run_wafleet, runner_report, wait_for


def wafleet(kube_api: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with the test's kubeconfig. Commands naming an account pass `-n`: the CLI's
    default is the namespace "default", not the kubeconfig context's."""
    return run_wafleet(kube_api.kubeconfig, *args)


def test_status_lists_accounts_with_phase_and_holder(cluster: Cluster, kube_api: Any) -> None:
    cluster.create_account("tina", {"phoneNumber": "+15550100001", "engine": "local"})
    cluster.patch_account_status(
        "tina", {"status": {"phase": "Connected", "leaseHolder": "waa-tina-0", "fencingToken": 3}}
    )
    done = wafleet(kube_api, "status")
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if "tina" in line)
    for cell in (cluster.namespace, "+15550100001", "local", "Connected", "waa-tina-0", "3"):
        assert cell in row


def test_qr_draws_the_payload_while_awaiting_login(cluster: Cluster, kube_api: Any) -> None:
    cluster.create_account("uma", {"phoneNumber": "+15550100001", "engine": "local"})
    not_yet = wafleet(kube_api, "qr", "uma", "-n", kube_api.namespace)
    assert not_yet.returncode == 1
    assert "not awaiting login" in not_yet.stderr
    cluster.patch_account_status(
        "uma", {"status": {"phase": "AwaitingLogin", "loginQr": "2@abc,def,ghi"}}
    )
    done = wafleet(kube_api, "qr", "uma", "-n", kube_api.namespace)
    assert done.returncode == 0, done.stderr
    drawing = [line for line in done.stdout.splitlines() if line and set(line) <= set("█▀▄ \xa0")]
    assert len(drawing) >= 10  # a drawn code (two modules per character row), not a line of text
    assert len({len(line) for line in drawing}) == 1  # square: every row as wide as the others


def test_without_n_the_command_works_in_the_contexts_namespace(
    cluster: Cluster, kube_api: Any
) -> None:
    """kube_api's kubeconfig context names the test's namespace; no -n is needed, as with kubectl."""
    cluster.create_account("ctx", {"phoneNumber": "+15550100001", "engine": "local"})
    cluster.patch_account_status(
        "ctx", {"status": {"phase": "AwaitingLogin", "loginQr": "2@x,y,z"}}
    )
    done = wafleet(kube_api, "qr", "ctx")
    assert done.returncode == 0, done.stderr
    assert f"{kube_api.namespace}/ctx" in done.stdout


def test_missing_account_and_unreachable_server_are_clear(
    cluster: Cluster, kube_api: Any, tmp_path: Path
) -> None:
    missing = wafleet(kube_api, "qr", "nobody", "-n", kube_api.namespace)
    assert missing.returncode == 1
    assert "404" in missing.stderr
    assert "nobody" in missing.stderr
    broken = tmp_path / "kubeconfig"
    broken.write_text(kube_api.kubeconfig.read_text().replace(kube_api.url, "http://127.0.0.1:9"))
    done = run_wafleet(broken, "status")
    assert done.returncode == 1
    assert "cannot reach the API server" in done.stderr


SNAPSHOTTED = {
    "phoneNumber": "+15550100001",
    "engine": "local",
    "snapshot": {"bucket": "snaps", "encryptionKeySecret": {"name": "kek"}},
}


def verify_request(cluster: Cluster, name: str) -> str | None:
    annotations = cluster.account(name)["metadata"].get("annotations") or {}
    return annotations.get("wafleet.io/verify-request")


def test_verify_waits_for_the_runners_answer_to_its_own_request(
    cluster: Cluster, kube_api: Any
) -> None:
    """The test plays the runner: it answers whatever request the annotation carries."""
    cluster.create_account("vic", SNAPSHOTTED)
    asked = wafleet(kube_api, "verify", "vic", "-n", kube_api.namespace)
    assert asked.returncode == 0, asked.stderr
    first = verify_request(cluster, "vic")
    assert first
    assert first in asked.stdout

    env = {**os.environ, "KUBECONFIG": str(kube_api.kubeconfig)}
    snapshot_id = "20261123T115900.000000Z-0a1b2c3d"
    for ok, code, word in ((False, 1, "DAMAGED"), (True, 0, "OK")):
        previous = verify_request(cluster, "vic")
        waiting = subprocess.Popen(
            [str(WAFLEET), "verify", "vic", "-n", kube_api.namespace, "--wait", "--timeout", "30"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        request = wait_for(
            lambda previous=previous: (r := verify_request(cluster, "vic")) != previous and r,
            "a new request",
        )
        # an answer to an older request is not this one's: the CLI keeps waiting
        stale = {"request": previous, "time": "2026-11-23T11:00:00Z", "ok": True}
        cluster.patch_account_status(
            "vic",
            {"status": {"runner": {**runner_report("vic", "Connected"), "lastVerify": stale}}},
        )
        verdict = {
            "request": request,
            "snapshotId": snapshot_id,
            "time": "2026-11-23T12:00:00Z",
            "ok": ok,
            "corruptChunks": 0 if ok else 1,
            "missingChunks": 0,
            "message": "all 3 chunk(s) verified" if ok else "1 corrupt chunk(s) (ab12)",
        }
        cluster.patch_account_status(
            "vic",
            {"status": {"runner": {**runner_report("vic", "Connected"), "lastVerify": verdict}}},
        )
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == code, (out, err)
        assert f"vic: {word}" in out
        if not ok:
            assert f"snapshot {snapshot_id} has 1 corrupt and 0 missing chunk(s)" in out
        listed = wafleet(kube_api, "status")
        row = next(line for line in listed.stdout.splitlines() if " vic " in line)
        assert f" {word} " in row  # the VERIFIED column shows the last verdict


def test_verify_errors_are_clear(cluster: Cluster, kube_api: Any) -> None:
    missing = wafleet(kube_api, "verify", "nobody", "-n", kube_api.namespace, "--wait")
    assert missing.returncode == 1
    assert f"no WhatsAppAccount {cluster.namespace}/nobody" in missing.stderr

    cluster.create_account("nosnap", {"phoneNumber": "+15550100001", "engine": "local"})
    unconfigured = wafleet(kube_api, "verify", "nosnap", "-n", kube_api.namespace)
    assert unconfigured.returncode == 1
    assert "no spec.snapshot" in unconfigured.stderr
    assert verify_request(cluster, "nosnap") is None

    cluster.create_account("quiet", SNAPSHOTTED)
    unanswered = wafleet(
        kube_api, "verify", "quiet", "-n", kube_api.namespace, "--wait", "--timeout", "2"
    )
    assert unanswered.returncode == 1
    assert "no answer" in unanswered.stderr
