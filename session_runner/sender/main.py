"""`wafleet-runner sender`: wire one replica from its settings and run it until SIGTERM.

The vendor credentials are the files of the pool's mounted Secret (only the
keys the vendor needs are read). On SIGTERM the replica stops receiving and
settles what it holds (the pod's grace period covers one vendor call). The
probes serve on `health_port`, Prometheus metrics (`sender.metrics`) on
`metrics_port`; 0 turns either off.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import time
from pathlib import Path
from typing import Any

import boto3
from aiohttp import web
from botocore.config import Config

from session_runner import health, logs
from session_runner.aws_location import client_location
from session_runner.aws_threads import use_aws_threads
from session_runner.contract.outbound import VENDOR_CREDENTIAL_KEYS, limiter_key
from session_runner.contract.sender_settings import SenderSettings
from session_runner.dynamodb import client_config
from session_runner.sender.ledger import Ledger
from session_runner.sender.metrics import (
    SenderView,
    WatchedRateLimiter,
    build_metrics_app,
    pool_label,
    sender_registry,
)
from session_runner.sender.queue import PoolQueue
from session_runner.sender.vendors import create_adapter
from session_runner.sender.worker import RECEIVE_WAIT_S, Sender, SenderConfig

log = logging.getLogger(__name__)

EXIT_USAGE = 2


class SenderStartError(Exception):
    """The replica cannot start: what is wrong, naming the setting or file, never a value."""


def read_credentials(vendor: str, folder: Path) -> dict[str, str]:
    """The vendor's credential files from the mounted Secret (one file per key)."""
    if vendor not in VENDOR_CREDENTIAL_KEYS:
        raise SenderStartError(f"WAFLEET_SENDER_VENDOR: unknown vendor {vendor!r}")
    credentials: dict[str, str] = {}
    for key in VENDOR_CREDENTIAL_KEYS[vendor]:
        path = folder / key
        try:
            credentials[key] = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SenderStartError(
                f"credentials file {path} unreadable ({type(error).__name__})"
            ) from None
    return credentials


def aws_clients(region: str, endpoint_url: str | None) -> tuple[Any, Any]:
    """SQS (boto3's standard retries: every call is idempotent or guarded by the ledger) and
    DynamoDB (no hidden retries: a retried conditional write could report a false conflict).
    Shared by sender replicas and by account runners consuming a session pool."""
    common = client_location(region, endpoint_url)
    sqs = boto3.client(
        "sqs",
        config=Config(
            connect_timeout=5,
            read_timeout=RECEIVE_WAIT_S + 10,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=32,
        ),
        **common,
    )
    dynamodb = boto3.client(
        "dynamodb", config=client_config(5.0, max_pool_connections=32), **common
    )
    return sqs, dynamodb


async def run(settings: SenderSettings, stop: asyncio.Event) -> None:
    if settings.vendor == "session":
        raise SenderStartError(
            "WAFLEET_SENDER_VENDOR: session pools are sent by the account's runner, "
            "not by a sender replica (not built yet)"
        )
    credentials = read_credentials(settings.vendor, settings.credentials_dir)
    sqs, dynamodb = aws_clients(settings.aws_region, settings.aws_endpoint_url)
    options: dict[str, Any] = {}
    if settings.vendor == "twilio" and settings.status_callback_url:
        options["status_callback"] = settings.status_callback_url
    adapter = create_adapter(
        settings.vendor, credentials, base_url=settings.vendor_base_url, **options
    )
    identity = f"{settings.pod_name}-{secrets.token_hex(4)}"
    limiter = WatchedRateLimiter(
        dynamodb,
        settings.ledger_table,
        limiter_key(settings.namespace, settings.pool),
        settings.rate_limit_per_second,
    )
    sender = Sender(
        SenderConfig(
            identity=identity,
            concurrency=settings.concurrency,
            claim_s=settings.claim_seconds,
            visibility_timeout_s=settings.visibility_timeout_seconds,
            max_receive_count=settings.max_receive_count,
            sender_number=settings.sender_number,
        ),
        PoolQueue(sqs, settings.queue_url, settings.dead_letter_queue_url),
        Ledger(dynamodb, settings.ledger_table),
        limiter,
        adapter,
    )
    servers: list[web.AppRunner] = []
    try:
        await _serve_endpoints(settings, sender, limiter, servers)
        log.info(
            "sender %s for pool %s/%s (%s) started",
            identity,
            settings.namespace,
            settings.pool,
            settings.vendor,
        )
        try:
            await sender.run(stop)
        finally:
            log.info("sender %s stopped: %s", identity, sender.stats)
    finally:
        await adapter.close()
        for server in servers:
            await server.cleanup()


async def _serve_endpoints(
    settings: SenderSettings,
    sender: Sender,
    limiter: WatchedRateLimiter,
    servers: list[web.AppRunner],
) -> None:
    """Start the probes and /metrics on their ports (0: not served), appending each
    server to `servers` as it starts so the caller stops what did start."""
    if settings.health_port:

        def alive() -> bool:  # a receive loop that stopped polling is stuck
            return time.monotonic() - sender.stats.last_receive_at < 3 * RECEIVE_WAIT_S + 30

        app = health.build_app(alive, lambda: True, why_not_alive="the receive loop is stuck")
        servers.append(await health.serve(app, settings.health_port))
    if settings.metrics_port:
        view = SenderView(
            pool=pool_label(settings.namespace, settings.pool),
            stats=sender.stats,
            holding=lambda: sender.holding,
            paused=limiter.paused,
        )
        metrics_app = build_metrics_app(sender_registry(view))
        servers.append(await health.serve(metrics_app, settings.metrics_port))


def aws_threads(concurrency: int) -> int:
    """Threads for the blocking boto3 calls (`asyncio.to_thread`): a claim and a ledger
    record per message in flight, one long-polling receive, a delete batch, a limiter
    write, and a spare. asyncio's default (cores + 4: six on two cores) queued claims
    behind each other and behind the receive that holds a thread for up to 20 s."""
    return 2 * concurrency + 4


def main(settings: SenderSettings) -> int:
    logs.configure(settings.log_level, "json")

    async def serve() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        use_aws_threads(aws_threads(settings.concurrency))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await run(settings, stop)
        except SenderStartError as error:
            log.error("sender cannot start: %s", error)
            return EXIT_USAGE
        return 0

    return asyncio.run(serve())
