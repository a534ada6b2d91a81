"""A `wafleet-runner sender` process serves its metrics on its metrics port, over HTTP.

The sender runs as a local process configured as the operator renders its
Deployment (`SenderSettings.as_env()`), against SQS and DynamoDB on the moto
server and Twilio's stand-in; the test scrapes ``/metrics`` as Prometheus would.
The pool-paused gauge's source (`WatchedRateLimiter`) is also checked directly on
the limiter item in moto's DynamoDB.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

import boto3
import httpx
from prometheus_client.parser import text_string_to_metric_families

from session_runner.contract.outbound import limiter_key
from session_runner.contract.sender_settings import SenderSettings
from session_runner.sender.ledger import ensure_table
from session_runner.sender.message import OutboundMessage
from session_runner.sender.metrics import WatchedRateLimiter
from tests.harness.devserver import (
    DEV_ACCESS_KEY_ID,
    DEV_REGION,
    DEV_SECRET_ACCESS_KEY,
    free_port,
)
from tests.harness.moto_server import AwsEndpoint
from tests.harness.vendor_standins import Faults, TwilioStandin
from tests.harness.waiting import wait_for

BIN = Path(sys.executable).parent
TABLE = "wafleet-outbound-ledger"
POOL, NAMESPACE, TARGET = "twilio-us", "metrics", "twilio-us"
LABEL = f"{NAMESPACE}/{POOL}"


def queues(aws: AwsEndpoint) -> tuple[str, str]:
    sqs = aws.client("sqs")
    dlq = sqs.create_queue(QueueName="metrics-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = f'{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"5"}}'
    queue = sqs.create_queue(
        QueueName="metrics", Attributes={"VisibilityTimeout": "30", "RedrivePolicy": redrive}
    )["QueueUrl"]
    return queue, dlq


def publish(aws: AwsEndpoint, queue: str, message_id: str) -> None:
    body = OutboundMessage(id=message_id, target=TARGET, to="+14155550123", text="hello")
    aws.client("sqs").send_message(QueueUrl=queue, MessageBody=body.to_json())


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Every sample of /metrics: (name, sorted labels) → value."""
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    answer.raise_for_status()
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def messages(samples: Samples, outcome: str) -> float | None:
    key = ("wafleet_sender_messages_total", (("outcome", outcome), ("pool", LABEL)))
    return samples.get(key)


def gauge(samples: Samples, name: str) -> float | None:
    return samples.get((name, (("pool", LABEL),)))


async def test_a_sender_process_counts_what_it_sent_on_its_metrics_port(
    aws: AwsEndpoint, twilio_standin: TwilioStandin, tmp_path: Path
) -> None:
    ensure_table(aws.client("dynamodb"), TABLE)
    queue, dlq = queues(aws)
    folder = tmp_path / "vendor"
    folder.mkdir()
    for key, value in twilio_standin.credentials().items():
        (folder / key).write_text(value)
    port = free_port()
    settings = SenderSettings(
        pool=POOL,
        namespace=NAMESPACE,
        vendor="twilio",
        target=TARGET,
        sender_number=twilio_standin.sender,
        queue_url=queue,
        dead_letter_queue_url=dlq,
        ledger_table=TABLE,
        aws_endpoint_url=aws.endpoint_url,
        aws_region=DEV_REGION,
        credentials_dir=folder,
        vendor_base_url=twilio_standin.base_url,
        status_callback_url="http://127.0.0.1:9/twilio/status",
        health_port=0,
        metrics_port=port,
    )
    aws_env = {
        "AWS_ACCESS_KEY_ID": DEV_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEV_SECRET_ACCESS_KEY,
        "AWS_REGION": DEV_REGION,
        "AWS_DEFAULT_REGION": DEV_REGION,
    }
    log_path = tmp_path / "sender.log"
    with log_path.open("w") as log:
        sender = await asyncio.create_subprocess_exec(
            str(BIN / "wafleet-runner"),
            "sender",
            env={**os.environ, **aws_env, **settings.as_env()},
            stdout=log,
            stderr=log,
        )
        try:
            idle = await asyncio.to_thread(
                wait_for, lambda: _try_scrape(port), "the sender serving /metrics"
            )
            assert messages(idle, "sent") == 0
            assert gauge(idle, "wafleet_sender_pool_paused") == 0

            publish(aws, queue, "order-1")
            await twilio_standin.log.wait_for(1)
            # Counted once settled: the count comes before the queue delete that ends holding.
            sent = await asyncio.to_thread(
                wait_for,
                lambda: scraped_when(port, lambda s: settled(s) and messages(s, "sent") == 1),
                "one message counted sent and settled",
            )
            for outcome in ("failed", "retried", "duplicate", "unknown"):
                assert messages(sent, outcome) == 0, outcome
            assert gauge(sent, "wafleet_sender_received_messages_total") == 1
            assert any(name == "process_resident_memory_bytes" for name, _ in sent)

            # The vendor throttles for ten minutes: the claim is released, the pool paused.
            twilio_standin.faults = Faults(throttle_fraction=1.0, retry_after_s=600)
            publish(aws, queue, "order-2")
            paused = await asyncio.to_thread(
                wait_for,
                lambda: scraped_when(port, lambda s: settled(s) and messages(s, "retried") == 1),
                "the throttled message released for a retry",
            )
            assert gauge(paused, "wafleet_sender_pool_paused") == 1
            assert messages(paused, "sent") == 1
            async with httpx.AsyncClient() as http:
                raw = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
            assert twilio_standin.auth_token not in raw
        finally:
            sender.terminate()
            await asyncio.wait_for(sender.wait(), 60)
    assert twilio_standin.log.count("order-1") == 1
    assert sender.returncode == 0, log_path.read_text()


def settled(samples: Samples) -> bool:
    return gauge(samples, "wafleet_sender_messages_holding") == 0


def scraped_when(port: int, check: Callable[[Samples], bool]) -> Samples | None:
    """The samples once `check` holds for them (None: not yet), for `wait_for`."""
    samples = scrape(port)
    return samples if check(samples) else None


def _try_scrape(port: int) -> Samples | None:
    try:
        return scrape(port)
    except httpx.TransportError:
        return None  # not listening yet


async def test_the_paused_gauge_follows_the_pools_limiter_item(aws: AwsEndpoint) -> None:
    """Another replica's throttle shows once this replica's pause check reads the item (the
    Sender checks before every receive); its own shows at once; both end with the pause."""
    client = boto3.client("dynamodb", **aws.server.client_kwargs())
    ensure_table(client, TABLE)
    now = [1_000.0]
    key = limiter_key(NAMESPACE, POOL)
    ours = WatchedRateLimiter(client, TABLE, key, 10.0, clock=lambda: now[0])
    other = WatchedRateLimiter(client, TABLE, key, 10.0, clock=lambda: now[0])
    await ours.state()
    assert not ours.paused()

    await other.throttle(300.0, "20429")
    assert other.paused()
    await ours.recent_state(1.0)  # what it knew a moment ago: not read again yet
    assert not ours.paused()
    now[0] += 2.0
    await ours.recent_state(1.0)  # too old: read, and the other's pause is seen
    assert ours.paused()

    now[0] += 300.0
    assert not ours.paused()
    await ours.throttle(5.0, "20429")
    assert ours.paused()
    now[0] += 5.0
    await ours.state()
    assert not ours.paused()
