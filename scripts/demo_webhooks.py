"""The demo's webhooks part: events reach a subscriber signed the Standard Webhooks way, and a
dead subscriber is switched off.

It runs inside the control-plane demo (`scripts/demo_local.py`) around the
outbound part (`scripts/demo_outbound.py`): before it, a local subscriber (a
thread serving on 127.0.0.1 that checks every delivery with the reference
`standardwebhooks` library, as a subscriber's own code would), the signing
Secret, two WebhookSubscriptions (the subscriber, and one at a port where
nothing answers, with a 1 s retry schedule and `failuresIn24h: 2`) and
`wafleet-runner dispatcher` as a local process; after it, the recipient of
the Twilio message replies (Twilio's incoming-message webhook, signed, to the
ingest), and the demo shows what the subscriber got and the dead one
Tombstoned.

The dispatcher reads its own queue on the events topic here
(`wafleet-demo-webhooks-dispatcher`, made as the operator makes
`wafleet-events-dispatcher`): the outbound part lists what waits on the
operator's queue by receiving from it, and a dispatcher on that queue would
have taken the events first. SNS hands every event to both queues.

The local engine's simulated peer never writes to the account (its inbound
messages are an in-process test hook), so the inbound message here comes
through Twilio: the same `message.inbound` event a session's reply makes.
"""

from __future__ import annotations

import base64
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import boto3
import httpx
import yaml
from rich.console import Console
from rich.markup import escape
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from session_runner.contract.dispatcher_settings import DispatcherSettings
from session_runner.events.event import Event
from session_runner.events.pipeline import ensure_events_pipeline, pipeline_names
from session_runner.sender.ledger import ensure_table
from tests.harness.devserver import MotoServer
from tests.harness.vendor_standins.twilio import TwilioStandin, signature

NAMESPACE: Final = "default"
SECRET_NAME: Final = "demo-webhook"
HEALTHY: Final = "crm"
DEAD: Final = "gone"
DEAD_FAILURES_IN_24H: Final = 2
#: The dispatcher's own queue on the events topic, and its retry queue.
EVENTS_QUEUE: Final = "wafleet-demo-webhooks-dispatcher"
RETRY_QUEUE: Final = "wafleet-demo-webhooks-retries"
LEDGER_TABLE: Final = "wafleet-outbound-ledger"
RECIPIENT: Final = "+14155550123"  # who got otp-4711 (scripts/demo_outbound.py) and replies
TWILIO_POOL: Final = "otp-twilio"

#: An event as the demo looks for it: its type, and our message id (else the vendor's).
Key = tuple[str, str]

#: The statuses of the outbound part's two messages.
STATUSES: Final[tuple[Key, ...]] = (
    ("message.sent", "demo-order-1"),
    ("message.delivered", "demo-order-1"),
    ("message.read", "demo-order-1"),
    ("message.sent", "otp-4711"),
)


def event_key(event: Event) -> Key:
    """What the demo calls an event: `(type, our message id)`, or the vendor's id without
    ours (an inbound message has none of ours)."""
    return event.type.value, event.message_id or event.vendor_message_id


def missing(wanted: Iterable[Key], verified: Iterable[Event]) -> list[Key]:
    """The wanted events not among the verified deliveries, in the order wanted. Pure.

    Deliveries are at least once: a repeat (same id) counts once, and extra events (other
    statuses, other messages) are no matter."""
    got = {event_key(event) for event in verified}
    return [key for key in wanted if key not in got]


def tampered(body: bytes) -> bytes:
    """The body with one character changed, as a forger or a broken proxy would leave it."""
    changed = body.replace(b'"type":"message.', b'"type":"massage.', 1)
    if changed == body:
        changed = body[:-1] + bytes([body[-1] ^ 1]) if body else b"x"
    return changed


def subscription(name: str, url: str, *, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """A WebhookSubscription for messages (inbound and statuses) in the demo's namespace:
    without `accounts`, so the Twilio pool's events (which belong to no account) come too."""
    return {
        "apiVersion": "wafleet.io/v1alpha1",
        "kind": "WebhookSubscription",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "url": url,
            "eventTypes": ["message.received", "message.status"],
            "signingSecret": {"name": SECRET_NAME},
            **(spec or {}),
        },
    }


@dataclass(frozen=True)
class Delivery:
    """One POST the subscriber got, and what its check of the signature said."""

    path: str
    headers: dict[str, str]
    body: bytes
    event: Event | None  # None: the signature did not verify
    error: str | None


class Subscriber:
    """A webhook subscriber on 127.0.0.1 in a thread: verifies each POST with the reference
    library, answers 204 (400 when it does not verify) and records it."""

    def __init__(self, secret: str) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        webhook = Webhook(secret)
        received = self._record

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                event: Event | None = None
                error: str | None = None
                try:
                    webhook.verify(body, headers)
                    event = Event.from_json(body)
                except (WebhookVerificationError, ValueError) as exc:
                    error = str(exc)
                received(Delivery(self.path, headers, body, event, error))
                self.send_response(204 if event is not None else 400)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the demo prints what matters."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def _record(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)

    def received(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever: only once it runs
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()


class DeadPort:
    """A port on 127.0.0.1 held (bound, never listening) so that nothing answers there and no
    other process of the demo takes it: every connection is refused."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/hooks"

    def close(self) -> None:
        self._socket.close()


class Webhooks:
    """The part's setup (`start`, before the outbound part), its show and its teardown."""

    def __init__(
        self,
        console: Console,
        kc: Callable[..., str],
        moto: MotoServer,
        env: dict[str, str],
        workdir: Path,
    ) -> None:
        self.console = console
        self.kc = kc
        self.moto = moto
        self.env = env
        self.workdir = workdir
        self.secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.subscriber = Subscriber(self.secret)
        self.dead = DeadPort()
        self.dispatcher: subprocess.Popen[bytes] | None = None
        self.log = workdir / "dispatcher.log"

    def say(self, command: str, output: str) -> None:
        self.console.print(f"  $ {escape(command)}")
        self.console.print("\n".join("    " + escape(line) for line in output.splitlines()))

    def start(self) -> None:
        """Subscriber, Secret, subscriptions, the dispatcher's queues, the dispatcher."""
        self.console.print(
            "\n  [bold]Webhooks[/]: every event to every WebhookSubscription that asked for it,"
            " signed the Standard Webhooks way"
        )
        self.subscriber.start()
        self.console.print(
            f"  a subscriber listens on {self.subscriber.url}: it checks every delivery with the"
            " reference library (standardwebhooks) and answers 204"
        )
        self.say(
            f"kubectl create secret generic {SECRET_NAME} --from-literal=secret=whsec_...",
            self.kc(
                "create", "secret", "generic", SECRET_NAME, f"--from-literal=secret={self.secret}"
            ),
        )
        dead_spec = {
            "timeoutSeconds": 1.0,
            "retry": {"schedule": [1, 1], "jitterRatio": 0.0},
            "tombstone": {"failuresIn24h": DEAD_FAILURES_IN_24H},
        }
        manifest = self.workdir / "webhooksubscriptions.yaml"
        manifest.write_text(
            yaml.safe_dump_all(
                [
                    subscription(HEALTHY, self.subscriber.url),
                    subscription(DEAD, self.dead.url, spec=dead_spec),
                ]
            ),
            encoding="utf-8",
        )
        self.console.print(
            f"  {HEALTHY}: {self.subscriber.url}, message.received and message.status, every"
            f" account and pool of {NAMESPACE}; {DEAD}: {self.dead.url} (nothing answers),"
            f" retries after 1 s and 1 s, tombstoned after more than"
            f" {DEAD_FAILURES_IN_24H} failures"
        )
        self.say(
            "kubectl apply -f webhooksubscriptions.yaml", self.kc("apply", "-f", str(manifest))
        )

        # The dispatcher's queues on the events topic, and the failure windows' table.
        sns = boto3.client("sns", **self.moto.client_kwargs())
        sqs = boto3.client("sqs", **self.moto.client_kwargs())
        ensure_events_pipeline(sns, sqs, pipeline_names().topic, EVENTS_QUEUE, RETRY_QUEUE)
        ensure_table(boto3.client("dynamodb", **self.moto.client_kwargs()), LEDGER_TABLE)
        settings = DispatcherSettings(
            events_queue=EVENTS_QUEUE,
            retry_queue=RETRY_QUEUE,
            ledger_table=LEDGER_TABLE,
            aws_endpoint_url=self.moto.endpoint_url,
            aws_region="us-east-1",
            namespaces=NAMESPACE,
            allowed_networks="127.0.0.1/32",
            refresh_seconds=1.0,
            status_flush_seconds=1.0,
            health_port=0,
            metrics_port=0,
            log_level="warning",
        )
        aws = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        runner = str(Path(sys.executable).with_name("wafleet-runner"))
        with self.log.open("wb") as log:
            self.dispatcher = subprocess.Popen(
                [runner, "dispatcher"],
                env={**self.env, **aws, **settings.as_env()},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.console.print(
            f"  wafleet-runner dispatcher runs (the chart deploys it with dispatcher.enabled),"
            f" reading {EVENTS_QUEUE} on the events topic, 127.0.0.1 allowed"
        )

    def reply(self, twilio: TwilioStandin, ingest_url: str) -> str:
        """The recipient of otp-4711 answers: Twilio posts the incoming WhatsApp message to
        the pool's messaging webhook (the ingest), signed with the account's auth token."""
        sid = "SM" + secrets.token_hex(16)
        url = f"{ingest_url}/twilio/{NAMESPACE}/{TWILIO_POOL}"
        params = {
            "AccountSid": twilio.account_sid,
            "ApiVersion": "2010-04-01",
            "Body": "Thanks, 4711 worked",
            "From": f"whatsapp:{RECIPIENT}",
            "MessageSid": sid,
            "NumMedia": "0",
            "ProfileName": "Demo Recipient",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": f"whatsapp:{twilio.sender}",
            "WaId": RECIPIENT.removeprefix("+"),
        }
        headers = {"X-Twilio-Signature": signature(twilio.auth_token, url, params)}
        try:
            answer = str(httpx.post(url, data=params, headers=headers, timeout=30).status_code)
        except httpx.HTTPError as exc:
            answer = f"[red]{escape(type(exc).__name__)}[/]"
        self.console.print(
            f"  {RECIPIENT} replies to the OTP on WhatsApp: Twilio posts the incoming message"
            f" {sid} to the ingest (signed): HTTP {answer}"
        )
        return sid

    def show(self, twilio: TwilioStandin, ingest_url: str) -> bool:
        """The reply, what the subscriber got, a forgery refused, the dead one tombstoned.
        True when every wanted event reached the subscriber verified and the dead
        subscription was tombstoned."""
        self.console.print(
            "\n  [bold]Webhooks[/]: what the subscriber received while the messages went out"
        )
        sid = self.reply(twilio, ingest_url)
        wanted = [*STATUSES, ("message.inbound", sid)]

        def verified() -> list[Event]:
            return [d.event for d in self.subscriber.received() if d.event is not None]

        arrived = _wait(lambda: not missing(wanted, verified()), 30)
        self.show_deliveries()
        ok = arrived
        if not arrived:
            lost = ", ".join(f"{kind} {key}" for kind, key in missing(wanted, verified()))
            self.console.print(f"  [red]not delivered (verified): {escape(lost)}[/]")
        ok = self.show_forgery() and ok
        tombstoned = _wait(lambda: self.state(DEAD) == "Tombstoned", 30)
        self.say("kubectl get whs", self.kc("get", "whs"))
        conditions = (
            '{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\\n"}{end}'
        )
        self.say(
            f"kubectl get whs {DEAD} -o jsonpath='{conditions}'",
            self.kc("get", "whs", DEAD, "-o", f"jsonpath={conditions}"),
        )
        selector = f"involvedObject.kind=WebhookSubscription,involvedObject.name={DEAD}"
        self.say(
            f"kubectl get events --field-selector {selector}",
            self.kc("get", "events", "--field-selector", selector),
        )
        if not tombstoned:
            self.console.print(f"  [red]{DEAD} was not tombstoned[/]")
        if not (ok and tombstoned):
            self.console.print("  the dispatcher said:")
            self.console.print(escape(self.log.read_text(errors="replace")[-3000:]))
        return ok and tombstoned

    def show_deliveries(self) -> None:
        received = self.subscriber.received()
        self.console.print(f"  the subscriber received {len(received)} deliveries:")
        for delivery in received:
            event, headers = delivery.event, {k.lower(): v for k, v in delivery.headers.items()}
            if event is None:
                self.console.print(
                    f"    [red]{escape(headers.get('webhook-id', '?'))}: did not verify:"
                    f" {escape(delivery.error or '')}[/]"
                )
                continue
            about = event.message_id or f"from {event.from_}: {event.text!r}"
            self.console.print(
                f"    {event.type.value:<17} {event.source.value:<7} {escape(about):<34}"
                f" webhook-id {headers['webhook-id']}  signature verified with standardwebhooks"
            )

    def show_forgery(self) -> bool:
        """The newest delivery with its body changed fails the reference library's check."""
        received = [d for d in self.subscriber.received() if d.event is not None]
        if not received:
            return False
        last = received[-1]
        try:
            Webhook(self.secret).verify(tampered(last.body), last.headers)
        except WebhookVerificationError as exc:
            self.console.print(
                f"  the same delivery with one byte of its body changed: rejected by"
                f" standardwebhooks ({escape(str(exc))})"
            )
            return True
        self.console.print("  [red]a tampered body verified[/]")
        return False

    def state(self, name: str) -> str:
        return self.kc("get", "whs", name, "-o", "jsonpath={.status.state}")

    def stop(self) -> None:
        if self.dispatcher is not None and self.dispatcher.poll() is None:
            self.dispatcher.terminate()
            try:
                self.dispatcher.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.dispatcher.kill()
                self.dispatcher.wait(timeout=5)
        self.subscriber.stop()
        self.dead.close()


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()
