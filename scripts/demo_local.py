"""`make demo` without Docker and kind: a real control plane where its binaries are, moto always.

It starts the moto server (S3, SQS, SNS, DynamoDB over real HTTP), checks the
sample resources against the CRDs generated from the models, shows the
storage guarantees the session runner's fencing is built on and a failover
between two runners. Then, where
the control-plane binaries are (KUBEBUILDER_ASSETS or ../shared/kube, and
etcd), it runs the operator on a real kube-apiserver: `kubectl apply`, the pod
run by the harness's kubelet stand-in, `kubectl wait`, verify and repair of a
snapshot, a message sent through the account's own session and one through
Twilio's stand-in (`scripts/demo_outbound.py`), their events and a reply
delivered signed to a WebhookSubscription and a dead subscriber tombstoned
(`scripts/demo_webhooks.py`), a deleted pod replaced and restored, a bulk send of a CSV
with a few bad rows through the account's session, its progress bar and per-row report
(`scripts/demo_bulk.py`), suspend.
Without them that part is skipped, saying why. Each step prints what it did.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError
from rich.console import Console
from rich.markup import escape

from tests.harness.devserver import MotoServer
from wafleet_operator.crdgen import validate_against_crd

REPO = Path(__file__).resolve().parents[1]

console = Console(highlight=False)


def step(title: str) -> None:
    console.print(f"\n[bold cyan]==>[/] [bold]{title}[/]")


def load_samples(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    docs: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict):
                docs.append((path, doc))
    return docs


def check_samples() -> list[dict[str, Any]]:
    step("Checking the sample resources against the CRD schemas generated from the models")
    valid = load_samples(REPO / "samples" / "valid")
    for path, doc in valid:
        errors = validate_against_crd(None, doc)
        verdict = (
            "[green]accepted[/]" if not errors else f"[red]rejected: {escape(str(errors[0]))}[/]"
        )
        console.print(f"  {path.name:<40} {verdict}")
    for path, doc in load_samples(REPO / "samples" / "invalid"):
        errors = validate_against_crd(None, doc)
        verdict = (
            f"[yellow]rejected[/] {escape(str(errors[0]))}"
            if errors
            else "[red]accepted (unexpected)[/]"
        )
        console.print(f"  {path.name:<40} {verdict}", overflow="ellipsis", no_wrap=True)
    return [doc for _, doc in valid]


def show_fencing_primitives(moto: MotoServer) -> None:
    step("Storage guarantees fencing relies on: compare-and-swap on the latest-pointer")
    s3 = boto3.client("s3", **moto.client_kwargs())
    s3.create_bucket(Bucket="wafleet-demo-snapshots")
    key = "accounts/demo/latest"
    first = s3.put_object(
        Bucket="wafleet-demo-snapshots", Key=key, Body=b'{"token": 1}', IfNoneMatch="*"
    )
    console.print("  runner A (token 1) created the latest-pointer")
    s3.put_object(
        Bucket="wafleet-demo-snapshots", Key=key, Body=b'{"token": 2}', IfMatch=first["ETag"]
    )
    console.print("  runner B (token 2) took over and swapped it (If-Match on A's ETag)")
    try:
        s3.put_object(
            Bucket="wafleet-demo-snapshots", Key=key, Body=b'{"token": 1}', IfMatch=first["ETag"]
        )
        console.print("  [red]runner A's stale write was accepted[/]")
    except ClientError as exc:
        console.print(
            f"  runner A woke up and wrote again: refused ({exc.response['Error']['Code']})"
        )


def run_failover(moto: MotoServer, workdir: Path) -> bool:
    """Two runners, a kill -9, a restore; True when the standby took over from the snapshot."""
    step("Two session runners for one account: one live session, failover when it is killed")
    import signal

    from session_runner.session.lease.dynamodb import ensure_table
    from tests.harness.devrunner import LeaseTimings, LocalRunner, start_runner

    ensure_table(boto3.client("dynamodb", **moto.client_kwargs()), "wafleet-leases")
    boto3.client("s3", **moto.client_kwargs()).create_bucket(Bucket="wafleet-demo-snapshots")
    kek = workdir / "encryption-key"
    kek.write_bytes(os.urandom(32))
    extra = {
        "AWS_ENDPOINT_URL": moto.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "WAFLEET_LEASE_BACKEND": "dynamodb",
        "WAFLEET_LOG_LEVEL": "error",
        "WAFLEET_SNAPSHOT_BUCKET": "wafleet-demo-snapshots",
        "WAFLEET_SNAPSHOT_ENCRYPTION_KEY_FILE": str(kek),
    }
    lease = LeaseTimings(duration=4, renew_deadline=3, retry_period=1)

    def wait(predicate: Any, limit: float = 30.0) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.2)
        return False

    def show(runner: LocalRunner) -> None:
        report = runner.status()
        console.print(
            f"  {runner.name}: {report.get('phase')} (token {report.get('fencingToken')}) "
            f"{report.get('message')}"
        )

    # runner-a logs in at once (a stand-in for a person scanning the QR); runner-b
    # never logs in by itself, so it can only be Connected from a restored snapshot.
    leader = start_runner("runner-a", workdir, lease=lease, extra=extra)
    runners = [leader]
    try:
        wait(lambda: leader.status().get("phase") == "Connected")
        other = start_runner(
            "runner-b",
            workdir,
            lease=lease,
            extra={**extra, "WAFLEET_LOCAL_ENGINE_AUTO_LOGIN_AFTER_S": ""},
        )
        runners.append(other)
        wait(lambda: other.status().get("phase") == "Standby")
        for runner in runners:
            show(runner)
        if wait(lambda: leader.status().get("lastSnapshot")):
            shot = leader.status()["lastSnapshot"]
            console.print(
                f"  {leader.name} snapshotted its new login at once: {shot['id']}, "
                f"{shot['bytes']} bytes, zstd + AES-256-GCM, in {shot['seconds']} s"
            )
        token = leader.status().get("fencingToken")
        console.print(
            f"  kill -9 {leader.name} (no graceful release: the lease must expire on its own)"
        )
        killed = time.monotonic()
        leader.process.send_signal(signal.SIGKILL)
        leader.process.wait(timeout=10)
        if wait(lambda: other.status().get("phase") == "Connected"):
            report = other.status()
            console.print(
                f"  {other.name}: {report.get('phase')} after {time.monotonic() - killed:.1f} s, "
                f"fencing token {token} -> {report.get('fencingToken')}, "
                "session restored from the snapshot (no new QR scan)"
            )
        else:
            console.print(f"  [red]{other.name} did not take over[/]")
            return False
        console.print(f"  SIGTERM {other.name}: final snapshot, engine stopped, lease released")
        other.process.send_signal(signal.SIGTERM)
        other.process.wait(timeout=20)
        show(other)
        return other.process.returncode == 0
    finally:
        for runner in runners:
            runner.stop()


def run_operator_on_control_plane(moto: MotoServer) -> bool:
    """The operator on a real control plane, pods run by the harness's kubelet stand-in.

    Returns False when a step did not come out as it should (the demo then fails).
    """
    import subprocess
    import tempfile

    from scripts.demo_bulk import Bulk
    from scripts.demo_outbound import Ingest, StandinThread, show_outbound
    from scripts.demo_outbound import operator_env as outbound_env
    from scripts.demo_webhooks import Webhooks
    from tests.harness.control_plane import find_assets, start_control_plane
    from tests.harness.control_plane.kubelet import Kubelet, StandInNode
    from tests.harness.kube import apply_crds, crd_documents

    assets = find_assets()
    if isinstance(assets, str):
        step("The operator on Kubernetes: skipped")
        console.print(f"  {assets}")
        console.print(
            "  (set KUBEBUILDER_ASSETS to a folder with kube-apiserver, kube-controller-manager"
            " and kube-scheduler, and install etcd, to run this part)"
        )
        return True
    step("The operator on a real Kubernetes control plane (kube-apiserver v1.36.2, etcd)")
    kubectl = REPO / ".tools" / "bin" / "kubectl"
    ingest = Ingest()
    with tempfile.TemporaryDirectory() as tmp, StandinThread() as twilio:
        plane = start_control_plane(assets, Path(tmp) / "control-plane")
        node = kubelet = operator = webhooks = bulk = None
        try:
            console.print(
                f"  etcd, kube-apiserver, kube-controller-manager and kube-scheduler on "
                f"{plane.url} (started in {plane.started_in_s:.1f} s)"
            )
            apply_crds(plane, crd_documents())
            console.print("  CRDs from crds/ accepted by the API server and Established")
            kubeconfig = plane.write_kubeconfig(Path(tmp) / "kubeconfig", namespace="default")
            node = StandInNode(plane).start()
            kubelet = Kubelet(plane, "default", Path(tmp) / "kubelet").start()
            console.print(
                "  no kubelet here: a stand-in runs each pod's runner as a local process with the"
                " pod's env, Secrets and ServiceAccount token"
            )
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("WAFLEET_")},
                "KUBECONFIG": str(kubeconfig),
                "KUBECACHEDIR": str(Path(tmp) / "cache"),
                "WAFLEET_METRICS_PORT": "0",
                "WAFLEET_HEALTH_PORT": "0",
                "WAFLEET_LOG_LEVEL": "warning",
            }
            operator = subprocess.Popen(
                [str(Path(sys.executable).with_name("wafleet-operator"))],
                env={**env, **outbound_env(moto, twilio, ingest)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

            def kc(*args: str) -> str:
                done = subprocess.run(
                    [str(kubectl), *args], env=env, capture_output=True, text=True, check=False
                )
                return (done.stdout + done.stderr).rstrip()

            def show(*args: str) -> None:
                console.print(f"  $ kubectl {' '.join(args)}")
                console.print("\n".join("    " + line for line in kc(*args).splitlines()))

            def wait_until(predicate: Any, seconds: float = 60) -> bool:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    if predicate():
                        return True
                    time.sleep(0.3)
                return False

            # Snapshots to S3 on moto, sealed with a key from a Secret mounted into the pod.
            bucket = "wafleet-demo-operator"
            boto3.client("s3", **moto.client_kwargs()).create_bucket(Bucket=bucket)
            kek = Path(tmp) / "kek"
            kek.write_bytes(os.urandom(32))
            console.print(
                "  $ kubectl create secret generic demo-kek --from-file=key=<32 random bytes>"
            )
            console.print(
                "    " + kc("create", "secret", "generic", "demo-kek", f"--from-file=key={kek}")
            )
            console.print(
                "  $ kubectl create secret generic demo-s3 --from-literal=AWS_ACCESS_KEY_ID=..."
            )
            console.print(
                "    "
                + kc(
                    "create",
                    "secret",
                    "generic",
                    "demo-s3",
                    "--from-literal=AWS_ACCESS_KEY_ID=testing",
                    "--from-literal=AWS_SECRET_ACCESS_KEY=testing",
                )
            )
            sample_path = REPO / "samples" / "valid" / "whatsappaccount-local.yaml"
            sample = yaml.safe_load(sample_path.read_text(encoding="utf-8"))
            sample["spec"]["snapshot"] = {
                "bucket": bucket,
                "endpoint": moto.endpoint_url,
                "credentialsSecret": {"name": "demo-s3"},
                "encryptionKeySecret": {"name": "demo-kek"},
            }
            manifest = Path(tmp) / "whatsappaccount-demo.yaml"
            manifest.write_text(yaml.safe_dump(sample), encoding="utf-8")
            console.print(
                "  $ kubectl apply -f samples/valid/whatsappaccount-local.yaml"
                " (plus spec.snapshot: a bucket on moto and the two Secrets)"
            )
            console.print("    " + kc("apply", "-f", str(manifest)))
            console.print("  $ kubectl wait --for=condition=Ready waa/demo")
            console.print(
                "    " + kc("wait", "--for=condition=Ready", "waa/demo", "--timeout=120s")
            )
            show("get", "waa")
            show("get", "statefulsets,pods,leases,services,roles,serviceaccounts")
            show_verify(kc, moto, bucket, env)
            webhooks = Webhooks(console, kc, moto, env, Path(tmp))
            webhooks.start()
            sent = show_outbound(console, kc, moto, env, Path(tmp), twilio, ingest)
            hooked = webhooks.show(twilio, ingest.url)

            # A lost pod: the StatefulSet makes a new one, which restores the session.
            console.print(
                "  from now on nobody scans a QR for the simulated peer: only a restored session"
                " can connect"
            )
            never = '{"spec":{"local":{"login":"Never"}}}'
            console.print(f"  $ kubectl patch waa demo --type=merge -p '{never}'")
            kc("patch", "waa", "demo", "--type=merge", "-p", never)
            # The pod template changed: the StatefulSet controller rolls the pod.
            rolled = wait_until(
                lambda: (
                    kc("get", "waa", "demo", "-o", "jsonpath={.status.fencingToken}") == "2"
                    and "Connected" in kc("get", "waa", "demo", "-o", "jsonpath={.status.phase}")
                ),
                120,
            )
            if not rolled:
                console.print("  [red]the rolled pod did not connect[/]")
            token = kc("get", "waa", "demo", "-o", "jsonpath={.status.fencingToken}")
            show("delete", "pod", "waa-demo-0", "--wait=false")

            def replaced() -> bool:
                new = kc("get", "waa", "demo", "-o", "jsonpath={.status.fencingToken}")
                phase = kc("get", "waa", "demo", "-o", "jsonpath={.status.phase}")
                return (
                    new.isdigit()
                    and token.isdigit()
                    and int(new) > int(token)
                    and phase == "Connected"
                )

            restored = wait_until(replaced, 120)
            new_token = kc("get", "waa", "demo", "-o", "jsonpath={.status.fencingToken}")
            if restored:
                console.print(
                    f"  the replacement pod restored the session from the snapshot: fencing"
                    f" token {token} -> {new_token}, no new QR scan"
                )
            else:
                console.print("  [red]the replacement pod did not connect from the snapshot[/]")
            show("get", "waa,pods")

            # Late, with the pod steps done: the session pool's queue fills up here.
            bulk = Bulk(console, moto, env, Path(tmp))
            bulk.start()
            bulked = bulk.show()

            console.print(
                '  $ kubectl patch waa demo --type=merge -p \'{"spec":{"suspended":true}}\''
            )
            kc("patch", "waa", "demo", "--type=merge", "-p", '{"spec":{"suspended":true}}')
            wait_until(lambda: "Suspended" in kc("get", "waa", "demo") and not kubelet.pods, 120)
            replicas = kc("get", "statefulset", "waa-demo", "-o", "jsonpath={.spec.replicas}")
            phase = kc("get", "waa", "demo", "-o", "jsonpath={.status.phase}")
            console.print(
                f"  phase: {phase}, StatefulSet replicas: {replicas}; the pod took its final"
                " snapshot and released the lease on SIGTERM"
            )
            if not sent:
                console.print("  [red]a message did not reach its vendor exactly once[/]")
            return restored and sent and hooked and bulked
        finally:
            if bulk is not None:
                bulk.stop()
            if webhooks is not None:
                webhooks.stop()
            ingest.stop()
            if operator is not None:
                operator.terminate()
                operator.wait(timeout=15)
            if kubelet is not None:
                kubelet.stop()
            if node is not None:
                node.stop()
            plane.stop()


def show_verify(kc: Any, moto: MotoServer, bucket: str, env: dict[str, str]) -> None:
    """Verify the backup, rot one chunk, find it, repair it with the next snapshot."""
    import subprocess

    wafleet = str(Path(sys.executable).with_name("wafleet"))

    def run(*args: str) -> None:
        console.print(f"  $ wafleet {' '.join(args)}")
        done = subprocess.run(
            [wafleet, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        console.print(f"    {(done.stdout + done.stderr).strip()}  (exit {done.returncode})")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not kc(
        "get", "waa", "demo", "-o", "jsonpath={.status.lastSnapshot.id}"
    ):
        time.sleep(0.2)
    console.print(
        "  the runner snapshotted the new login: "
        + kc("get", "waa", "demo", "-o", "jsonpath={.status.lastSnapshot.id}")
    )
    run("verify", "demo", "--wait", "--timeout", "60")
    from tests.harness.moto_server import flip_a_byte_of_a_chunk

    s3 = boto3.client("s3", **moto.client_kwargs())
    key = flip_a_byte_of_a_chunk(s3, bucket, "default/demo/")
    console.print(f"  bit rot: one byte of s3://{bucket}/{key[:40]}... flipped")
    run("verify", "demo", "--wait", "--timeout", "60")
    health = "jsonpath={.status.conditions[?(@.type=='SnapshotHealthy')].reason}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "Corrupt" not in kc("get", "waa", "demo", "-o", health):
        time.sleep(0.2)
    console.print(f"  SnapshotHealthy reason: {kc('get', 'waa', 'demo', '-o', health)}")
    run("snapshot", "demo")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "Corrupt" in kc("get", "waa", "demo", "-o", health):
        time.sleep(0.2)
    console.print("  the next snapshot uploaded the damaged chunk again:")
    run("verify", "demo", "--wait", "--timeout", "60")


def main() -> int:
    started = time.monotonic()
    step("Starting the embedded moto server (S3, DynamoDB over HTTP)")
    with MotoServer() as moto:
        console.print(f"  listening on {moto.endpoint_url}")
        check_samples()
        show_fencing_primitives(moto)
        import tempfile

        with tempfile.TemporaryDirectory() as workdir:
            failed_over = run_failover(moto, Path(workdir))
        on_kubernetes = True
        if (REPO / ".tools" / "bin" / "kubectl").exists():
            on_kubernetes = run_operator_on_control_plane(moto)
    if not failed_over:
        console.print("\n[bold red]demo failed[/]: the standby runner did not take over")
        return 1
    if not on_kubernetes:
        console.print(
            "\n[bold red]demo failed[/]: the replacement pod did not restore the session,"
            " or a message did not reach its vendor exactly once"
        )
        return 1
    console.print(
        f"\n[bold green]demo finished[/] in {time.monotonic() - started:.1f} s. "
        "What comes next: README, section Status."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
