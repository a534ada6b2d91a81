"""The demo's outbound part: one message through the demo account's own session, one through
Twilio (its local stand-in), each followed to its ledger entry.

It runs inside the control-plane demo (`scripts/demo_local.py`): the operator
creates each pool's queues on moto, the account's runner (a pod the kubelet
stand-in runs) consumes the session pool, and the Twilio pool's sender
Deployment scales from zero when the message waits, its pod run by the same
kubelet stand-in.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import yaml
from rich.console import Console

from session_runner.sender.ledger import Ledger
from tests.harness.control_plane.processes import free_port
from tests.harness.devserver import MotoServer
from tests.harness.vendor_standins import TwilioStandin

REPO = Path(__file__).resolve().parents[1]
LEDGER_TABLE = "wafleet-outbound-ledger"
RECIPIENT = "+14155550123"


class StandinThread:
    """The Twilio stand-in on its own event loop in a thread, for a synchronous script."""

    def __init__(self) -> None:
        self.standin = TwilioStandin(deliver_callbacks=True)  # posts `sent` status callbacks
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> TwilioStandin:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.standin.__aenter__(), self._loop).result(30)
        return self.standin

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(
            self.standin.__aexit__(None, None, None), self._loop
        ).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class Ingest:
    """`wafleet-runner ingest` as a local process: the vendors' webhooks in, events out."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log: Path | None = None

    def start(self, moto: MotoServer, env: dict[str, str], log_path: Path) -> None:
        settings = {
            "WAFLEET_INGEST_PUBLIC_BASE_URL": self.url,
            "WAFLEET_INGEST_EVENTS_TOPIC_ARN": "wafleet-events",
            "WAFLEET_INGEST_AWS_ENDPOINT_URL": moto.endpoint_url,
            "WAFLEET_INGEST_HOST": "127.0.0.1",
            "WAFLEET_INGEST_PORT": str(self.port),
            "WAFLEET_INGEST_HEALTH_PORT": "0",
            "WAFLEET_INGEST_LOG_LEVEL": "info",
        }
        runner = str(Path(sys.executable).with_name("wafleet-runner"))
        self.log = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [runner, "ingest"],
                env={**env, **AWS_ENV, **settings},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


def operator_env(moto: MotoServer, twilio: TwilioStandin, ingest: Ingest) -> dict[str, str]:
    """What the operator needs for SenderPools here: AWS on moto, Twilio at its stand-in,
    Twilio's status callbacks to the local ingest."""
    return {
        "WAFLEET_AWS_ENDPOINT_URL": moto.endpoint_url,
        "WAFLEET_AWS_REGION": "us-east-1",
        **AWS_ENV,
        "WAFLEET_POOL_SYNC_INTERVAL_S": "2",
        "WAFLEET_VENDOR_BASE_URLS": f"twilio={twilio.base_url}",
        "WAFLEET_INGEST_PUBLIC_BASE_URL": ingest.url,
    }


def show_outbound(
    console: Console,
    kc: Callable[..., str],
    moto: MotoServer,
    env: dict[str, str],
    workdir: Path,
    twilio: TwilioStandin,
    ingest: Ingest,
) -> bool:
    """Send through both pools; True when each message reached its vendor exactly once."""
    wafleet = str(Path(sys.executable).with_name("wafleet"))
    cli_env = {**env, **AWS_ENV, "AWS_ENDPOINT_URL": moto.endpoint_url}
    ledger = Ledger(boto3.client("dynamodb", **moto.client_kwargs()), LEDGER_TABLE)

    def say(command: str, output: str) -> None:
        console.print(f"  $ {command}")
        console.print("\n".join("    " + line for line in output.splitlines()))

    def send(pool: str, key: str, text: str, until: str = "sent") -> bool:
        args = ["send", "--pool", pool, "--to", RECIPIENT, "--text", text]
        args += ["--idempotency-key", key, "--wait", "--until", until, "--timeout", "120"]
        done = subprocess.run(
            [wafleet, *args], env=cli_env, capture_output=True, text=True, timeout=180, check=False
        )
        say(f"wafleet {' '.join(args)}", (done.stdout + done.stderr).strip())
        return done.returncode == 0

    def show_entry(key: str) -> None:
        entry = asyncio.run(ledger.get(key))
        if entry is None:
            console.print(f"  ledger {key}: [red]no entry[/]")
            return
        token = f", fencing token {entry.token}" if entry.token is not None else ""
        console.print(
            f"  ledger {key}: {entry.state} by {entry.claimer}, vendor id "
            f"{entry.vendor_message_id}, {entry.attempts} claim(s){token}"
        )

    def ready(pool: str) -> bool:
        jsonpath = "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
        return kc("get", "senderpool", pool, "-o", jsonpath) == "True"

    def apply(sample: str, change: Callable[[dict[str, Any]], None]) -> None:
        doc = yaml.safe_load((REPO / "samples" / "valid" / sample).read_text(encoding="utf-8"))
        change(doc)
        path = workdir / sample
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        say(f"kubectl apply -f samples/valid/{sample}", kc("apply", "-f", str(path)))

    console.print(
        "\n  [bold]Outbound[/]: a SenderPool is a queue (SQS, subscribed to the outbound SNS"
        " topic by target) and whoever drains it"
    )
    # 1. Through the demo account's own WhatsApp session: its runner drains the queue.
    apply("senderpool-session.yaml", lambda doc: None)
    ok = _wait(lambda: ready("demo-session"), 60)
    wiring = kc(
        "get", "waa", "demo", "-o", "jsonpath={.metadata.annotations.wafleet\\.io/outbound}"
    )
    console.print(
        "  the operator created the pool's queues and handed them to the account's runner"
        f" (annotation wafleet.io/outbound, {len(wiring)} bytes of JSON)"
    )
    ok = send("demo-session", "demo-order-1", "Your order has shipped", "read") and ok
    show_entry("demo-order-1")
    ok = send("demo-session", "demo-order-1", "Your order has shipped") and ok
    console.print("  the same idempotency key again: settled from the ledger, not sent again")

    # 2. Through Twilio: a sender Deployment, scaled from zero by the queue; Twilio's
    # status callbacks reach the ingest, which turns them into events.
    ingest.start(moto, env, workdir / "ingest.log")
    console.print(
        f"  wafleet-runner ingest listens on {ingest.url} for the vendors' webhooks"
        " (the chart deploys it with ingest.enabled)"
    )
    secret = ["create", "secret", "generic", "twilio-credentials"]
    secret += [f"--from-literal={k}={v}" for k, v in twilio.credentials().items()]
    kc(*secret)
    console.print(
        "  $ kubectl create secret generic twilio-credentials --from-literal=accountSid=..."
        " --from-literal=authToken=..."
    )

    def twilio_pool(doc: dict[str, Any]) -> None:
        doc["spec"]["phoneNumbers"] = [twilio.sender]
        doc["spec"]["awsCredentialsSecret"] = {"name": "demo-s3"}

    apply("senderpool-twilio.yaml", twilio_pool)
    ok = _wait(lambda: ready("otp-twilio"), 60) and ok
    say("kubectl get senderpools", kc("get", "senderpools"))
    ok = send("otp-twilio", "otp-4711", "Your code is 4711") and ok
    show_entry("otp-4711")
    count = twilio.log.count("otp-4711")
    console.print(f"  the Twilio stand-in received otp-4711 {count} time(s)")
    if not _wait(lambda: _delivery(ledger, "otp-4711") is not None, 30):
        console.print(
            f"  [red]no delivery status from Twilio's callback[/] "
            f"(callbacks posted: {twilio.callbacks_delivered}); the ingest said:"
        )
        if ingest.log is not None:
            console.print(ingest.log.read_text(errors="replace")[-2000:])
        ok = False
    else:
        console.print(
            "  Twilio's signed status callback reached the ingest: the ledger says "
            f"{_delivery(ledger, 'otp-4711')}"
        )
    show_events(console, moto)
    say(
        "kubectl get senderpools,deployments",
        kc("get", "senderpools,deployments", "-o", "wide"),
    )
    return ok and count == 1


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def _delivery(ledger: Ledger, message_id: str) -> str | None:
    from session_runner.events.delivery import DeliveryLedger

    recorded = asyncio.run(DeliveryLedger(ledger.client, ledger.table).read(message_id))
    return recorded.status.value if recorded.status is not None else None


def show_events(console: Console, moto: MotoServer) -> None:
    """What the webhook dispatcher will read: the normalised events so far."""
    from session_runner.events.event import Event

    sqs = boto3.client("sqs", **moto.client_kwargs())
    url = sqs.get_queue_url(QueueName="wafleet-events-dispatcher")["QueueUrl"]
    events: list[Event] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        batch = got.get("Messages", [])
        if not batch:
            break
        events.extend(Event.from_json(m["Body"]) for m in batch)
    console.print(
        f"  the events topic's queue for the webhook dispatcher holds {len(events)} events:"
    )
    for event in sorted(events, key=lambda e: e.at):
        console.print(
            f"    {event.id}  {event.type.value:<18} {event.source.value:<7} "
            f"message {event.message_id}  ({event.owner})"
        )
