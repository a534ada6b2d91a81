"""`make demo` without Docker and kind: wafleet's data plane on the embedded moto server.

It starts the moto server (S3, SQS, SNS, DynamoDB over real HTTP), checks the
sample resources against the CRDs generated from the models, builds the
outbound routing every SenderPool gets (one SNS topic, one filtered SQS queue
per pool), routes a message, and shows the storage guarantees the session
runner's fencing is built on. Each step prints what it did.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError
from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from session_runner.devserver import MotoServer  # noqa: E402
from wafleet_operator.crdgen import validate_against_crd  # noqa: E402

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
        verdict = "[green]accepted[/]" if not errors else f"[red]rejected: {errors[0]}[/]"
        console.print(f"  {path.name:<40} {verdict}")
    for path, doc in load_samples(REPO / "samples" / "invalid"):
        errors = validate_against_crd(None, doc)
        verdict = f"[yellow]rejected[/] {errors[0]}" if errors else "[red]accepted (unexpected)[/]"
        console.print(f"  {path.name:<40} {verdict}", overflow="ellipsis", no_wrap=True)
    return [doc for _, doc in valid]


def build_routing(moto: MotoServer, pools: list[dict[str, Any]]) -> None:
    step("Outbound routing: one SNS topic, one filtered SQS queue per SenderPool")
    kwargs = moto.client_kwargs()
    sns, sqs = boto3.client("sns", **kwargs), boto3.client("sqs", **kwargs)
    topic = sns.create_topic(Name="wafleet-outbound")["TopicArn"]
    queues: dict[str, str] = {}
    for pool in pools:
        target = pool["spec"]["target"]
        url = sqs.create_queue(QueueName=f"wafleet-send-{target}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={
                "FilterPolicy": json.dumps({"target": [target]}),
                "RawMessageDelivery": "true",
            },
        )
        queues[target] = url
        console.print(
            f"  pool [bold]{pool['metadata']['name']}[/] ({pool['spec']['vendor']}) <- target={target}"
        )
    if not queues:
        return
    chosen = sorted(queues)[0]
    sns.publish(
        TopicArn=topic,
        Message=json.dumps({"to": "+14155550100", "text": "hello from the demo"}),
        MessageAttributes={"target": {"DataType": "String", "StringValue": chosen}},
    )
    for target, url in sorted(queues.items()):
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1 if target == chosen else 0)
        count = len(got.get("Messages", []))
        console.print(f"  published to target={chosen}: queue {target} received {count}")


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


def run_failover(moto: MotoServer, workdir: Path) -> None:
    step("Two session runners for one account: one live session, failover when it is killed")
    import signal
    import subprocess

    from session_runner.lease.dynamodb import ensure_table

    ensure_table(boto3.client("dynamodb", **moto.client_kwargs()), "wafleet-leases")
    runner_exe = str(Path(sys.executable).with_name("wafleet-runner"))

    def start(name: str) -> subprocess.Popen[bytes]:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("WAFLEET_")},
            "AWS_ENDPOINT_URL": moto.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "WAFLEET_ACCOUNT_NAME": "demo",
            "WAFLEET_PHONE_NUMBER": "+15550100001",
            "WAFLEET_ENGINE": "local",
            "WAFLEET_POD_NAME": name,
            "WAFLEET_LEASE_BACKEND": "dynamodb",
            "WAFLEET_LEASE_DURATION_SECONDS": "4",
            "WAFLEET_LEASE_RENEW_DEADLINE_SECONDS": "3",
            "WAFLEET_LEASE_RETRY_PERIOD_SECONDS": "1",
            "WAFLEET_SESSION_DIR": str(workdir / name / "session"),
            "WAFLEET_STATUS_FILE": str(workdir / name / "status.json"),
            "WAFLEET_HEALTH_PORT": "0",
            "WAFLEET_LOG_LEVEL": "error",
            "WAFLEET_LOCAL_ENGINE_AUTO_LOGIN_AFTER_S": "0",
        }
        return subprocess.Popen(
            [runner_exe, "session"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def status(name: str) -> dict[str, Any]:
        try:
            return dict(json.loads((workdir / name / "status.json").read_text()))
        except (OSError, ValueError):
            return {}

    def wait(predicate: Any, limit: float = 30.0) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.2)
        return False

    processes = {name: start(name) for name in ("runner-a", "runner-b")}
    try:
        wait(lambda: any(status(n).get("phase") == "Connected" for n in processes))
        wait(lambda: all(status(n).get("phase") for n in processes))
        for name in processes:
            report = status(name)
            console.print(
                f"  {name}: {report.get('phase')} (token {report.get('fencingToken')}) {report.get('message')}"
            )
        leader = next(n for n in processes if status(n).get("phase") == "Connected")
        other = next(n for n in processes if n != leader)
        token = status(leader).get("fencingToken")
        console.print(f"  kill -9 {leader} (no graceful release: the lease must expire on its own)")
        killed = time.monotonic()
        processes[leader].send_signal(signal.SIGKILL)
        processes[leader].wait(timeout=10)
        if wait(lambda: status(other).get("phase") == "Connected"):
            report = status(other)
            console.print(
                f"  {other}: {report.get('phase')} after {time.monotonic() - killed:.1f} s, "
                f"fencing token {token} -> {report.get('fencingToken')}"
            )
        else:
            console.print(f"  [red]{other} did not take over[/]")
        console.print(f"  SIGTERM {other}: it stops its engine and releases the lease")
        processes[other].send_signal(signal.SIGTERM)
        processes[other].wait(timeout=20)
        console.print(f"  {other}: {status(other).get('phase')}")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()


def run_operator_on_emulator() -> None:
    step("The operator on an in-process Kubernetes API emulator (no cluster here)")
    import subprocess
    import tempfile

    from tests.harness.kube_emulator import KubeEmulator

    kubectl = REPO / ".tools" / "bin" / "kubectl"
    with tempfile.TemporaryDirectory() as tmp:
        emulator = KubeEmulator().start()
        try:
            kubeconfig = emulator.write_kubeconfig(Path(tmp) / "kubeconfig")
            for crd in sorted((REPO / "crds").glob("*.yaml")):
                emulator.register_crd(yaml.safe_load(crd.read_text(encoding="utf-8")))
            console.print(f"  API emulator on {emulator.url}; CRDs registered from crds/")
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
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:

                def kc(*args: str) -> str:
                    done = subprocess.run(
                        [str(kubectl), *args], env=env, capture_output=True, text=True, check=False
                    )
                    return (done.stdout + done.stderr).rstrip()

                sample = REPO / "samples" / "valid" / "whatsappaccount-local.yaml"
                console.print(f"  $ kubectl apply -f {sample.relative_to(REPO)}")
                console.print("  " + kc("apply", "-f", str(sample)))
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and "Pending" not in kc("get", "waa", "demo"):
                    time.sleep(0.2)
                console.print("  $ kubectl get waa")
                console.print("\n".join("    " + line for line in kc("get", "waa").splitlines()))
                console.print("  $ kubectl get statefulsets,services,leases,roles")
                listing = kc(
                    "get", "statefulsets,services,leases,roles,rolebindings,serviceaccounts"
                )
                console.print("\n".join("    " + line for line in listing.splitlines()))
                console.print(
                    '  $ kubectl patch waa demo --type=merge -p \'{"spec":{"suspended":true}}\''
                )
                kc("patch", "waa", "demo", "--type=merge", "-p", '{"spec":{"suspended":true}}')
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and "Suspended" not in kc("get", "waa", "demo"):
                    time.sleep(0.2)
                replicas = kc("get", "statefulset", "waa-demo", "-o", "jsonpath={.spec.replicas}")
                console.print(
                    f"  phase: {kc('get', 'waa', 'demo', '-o', 'jsonpath={.status.phase}')}, StatefulSet replicas: {replicas}"
                )
            finally:
                operator.terminate()
                operator.wait(timeout=15)
        finally:
            emulator.stop()


def main() -> int:
    started = time.monotonic()
    step("Starting the embedded moto server (S3, SQS, SNS, DynamoDB over HTTP)")
    with MotoServer() as moto:
        console.print(f"  listening on {moto.endpoint_url}")
        samples = check_samples()
        pools = [doc for doc in samples if doc["kind"] == "SenderPool"]
        build_routing(moto, pools)
        show_fencing_primitives(moto)
        import tempfile

        with tempfile.TemporaryDirectory() as workdir:
            run_failover(moto, Path(workdir))
    if (REPO / ".tools" / "bin" / "kubectl").exists():
        run_operator_on_emulator()
    console.print(
        f"\n[bold green]demo finished[/] in {time.monotonic() - started:.1f} s. "
        "What comes next: README, section Status."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
