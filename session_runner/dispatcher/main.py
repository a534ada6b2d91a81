"""`wafleet-runner dispatcher`: deliver events to WebhookSubscriptions until SIGTERM.

Wires the loop (`worker.py`) to its queues (SQS), the failure windows
(DynamoDB), the subscriptions, secrets and status (the API server: in a pod
its ServiceAccount, elsewhere the kubeconfig) and one HTTP session whose
resolver refuses what `url_safety` refuses. On SIGTERM it stops receiving,
finishes what it holds and writes the status once more. The probes serve on
`health_port`, Prometheus metrics (`dispatcher.metrics`) on `metrics_port`; 0
turns either off.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import boto3
from aiohttp import web
from botocore.config import Config

from session_runner import health, logs
from session_runner.aws_location import client_location
from session_runner.aws_threads import use_aws_threads
from session_runner.contract.dispatcher_settings import DispatcherSettings
from session_runner.dispatcher.attempt import client_session
from session_runner.dispatcher.directory import KubeDirectory
from session_runner.dispatcher.failures import FailureStore
from session_runner.dispatcher.metrics import (
    DispatcherView,
    MetricsReporter,
    breakers_of,
    build_metrics_app,
    dispatcher_registry,
)
from session_runner.dispatcher.status import KubeStatusWriter
from session_runner.dispatcher.url_safety import parse_networks
from session_runner.dispatcher.worker import Directory, Dispatcher, DispatcherConfig
from session_runner.dynamodb import client_config
from session_runner.gc_freeze import freeze_startup_objects
from session_runner.kube.client import KubeClient
from session_runner.sender.queue import PoolQueue
from session_runner.signals import run_until_signalled

log = logging.getLogger(__name__)


def aws_clients(settings: DispatcherSettings) -> tuple[Any, Any]:
    """SQS (standard retries, a read timeout past the 20 s long poll) and DynamoDB (no hidden
    retries: the failure window is a conditional write)."""
    common = client_location(settings.aws_region, settings.aws_endpoint_url)
    sqs = boto3.client(
        "sqs",
        config=Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=aws_threads(settings.in_flight),
        ),
        **common,
    )
    dynamodb = boto3.client("dynamodb", config=client_config(5.0), **common)
    return sqs, dynamodb


def aws_threads(in_flight: int) -> int:
    """Threads for the blocking boto3 calls (`asyncio.to_thread`): one per queue message in
    hand on each queue (its failure record, its retry-queue put), the two long-polling
    receives, delete batches, and a spare. asyncio's default (cores + 4: six on two cores)
    left fan-outs waiting behind receives that hold a thread for up to 20 s."""
    return 2 * in_flight + 4


def queue_url(sqs: Any, queue: str) -> str:
    """A queue's URL from its URL or its name."""
    if queue.startswith(("https://", "http://")):
        return queue
    return str(sqs.get_queue_url(QueueName=queue)["QueueUrl"])


async def run(settings: DispatcherSettings, stop: asyncio.Event) -> None:
    use_aws_threads(aws_threads(settings.in_flight))
    sqs, dynamodb = aws_clients(settings)
    events_url = await asyncio.to_thread(queue_url, sqs, settings.events_queue)
    retries_url = await asyncio.to_thread(queue_url, sqs, settings.retry_queue)
    allowed = parse_networks(settings.allowed_networks)
    async with (
        KubeClient.connect(user_agent="wafleet-dispatcher", max_connections=16) as kube,
        client_session(allowed) as http,
    ):
        directory = KubeDirectory(
            kube, namespaces=settings.namespace_list, refresh_s=settings.refresh_seconds
        )
        writer = KubeStatusWriter(kube, flush_s=settings.status_flush_seconds)
        reporter = MetricsReporter(writer)  # counts per subscription, then the status
        dispatcher = Dispatcher(
            DispatcherConfig(
                allowed=allowed,
                concurrency_per_subscriber=settings.concurrency_per_subscriber,
                in_flight=settings.in_flight,
            ),
            PoolQueue(sqs, events_url),
            PoolQueue(sqs, retries_url),
            directory,
            FailureStore(dynamodb, settings.ledger_table),
            http,
            reporter=reporter,
        )
        await directory.refresh()
        freeze_startup_objects()
        servers: list[web.AppRunner] = []
        try:
            await serve_endpoints(settings, dispatcher, reporter, directory, servers)
            log.info(
                "dispatcher started",
                extra={"events_queue": events_url, "retry_queue": retries_url},
            )
            await asyncio.gather(
                directory.keep_fresh(stop), writer.keep_written(stop), dispatcher.run(stop)
            )
        finally:
            for server in servers:
                await server.cleanup()
    log.info("dispatcher stopped", extra={"outcomes": dict(dispatcher.stats.outcomes)})


async def serve_endpoints(
    settings: DispatcherSettings,
    dispatcher: Dispatcher,
    reporter: MetricsReporter,
    directory: Directory,
    servers: list[web.AppRunner],
) -> None:
    """Start the probes and /metrics on their ports (0: not served), appending each
    server to `servers` as it starts so the caller stops what did start."""
    if settings.health_port:
        app = health.build_app(lambda: True, lambda: True)
        servers.append(await health.serve(app, settings.health_port))
    if settings.metrics_port:
        view = DispatcherView(
            stats=dispatcher.stats,
            reporter=reporter,
            breakers=lambda: breakers_of(dispatcher),
            subscriptions=lambda: [subscriber.key for subscriber in directory.subscribers()],
        )
        metrics_app = build_metrics_app(dispatcher_registry(view))
        servers.append(await health.serve(metrics_app, settings.metrics_port))


def main(settings: DispatcherSettings) -> int:
    logs.configure(settings.log_level, "json")
    return run_until_signalled(lambda stop: run(settings, stop))
