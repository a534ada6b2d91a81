"""`wafleet-runner dispatcher`: deliver events to WebhookSubscriptions until SIGTERM.

Wires the loop (`worker.py`) to its queues (SQS), the failure windows
(DynamoDB), the subscriptions, secrets and status (the API server: in a pod
its ServiceAccount, elsewhere the kubeconfig) and one HTTP session whose
resolver refuses what `url_safety` refuses. On SIGTERM it stops receiving,
finishes what it holds and writes the status once more.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config

from session_runner import health, logs
from session_runner.aws_location import client_location
from session_runner.contract.dispatcher_settings import DispatcherSettings
from session_runner.dispatcher.attempt import client_session
from session_runner.dispatcher.directory import KubeDirectory
from session_runner.dispatcher.failures import FailureStore
from session_runner.dispatcher.status import KubeStatusWriter
from session_runner.dispatcher.url_safety import parse_networks
from session_runner.dispatcher.worker import Dispatcher, DispatcherConfig
from session_runner.dynamodb import client_config
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


def use_aws_threads(in_flight: int) -> None:
    """Make the running loop's default executor (`asyncio.to_thread`) `aws_threads` wide."""
    executor = ThreadPoolExecutor(aws_threads(in_flight), thread_name_prefix="aws")
    asyncio.get_running_loop().set_default_executor(executor)


def queue_url(sqs: Any, queue: str) -> str:
    """A queue's URL from its URL or its name."""
    if queue.startswith(("https://", "http://")):
        return queue
    return str(sqs.get_queue_url(QueueName=queue)["QueueUrl"])


async def run(settings: DispatcherSettings, stop: asyncio.Event) -> None:
    use_aws_threads(settings.in_flight)
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
            reporter=writer,
        )
        await directory.refresh()
        probes = None
        if settings.health_port:
            probes = await health.serve(
                health.build_app(lambda: True, lambda: True), settings.health_port
            )
        log.info(
            "dispatcher started",
            extra={"events_queue": events_url, "retry_queue": retries_url},
        )
        try:
            await asyncio.gather(
                directory.keep_fresh(stop), writer.keep_written(stop), dispatcher.run(stop)
            )
        finally:
            if probes is not None:
                await probes.cleanup()
    log.info("dispatcher stopped", extra={"outcomes": dict(dispatcher.stats.outcomes)})


def main(settings: DispatcherSettings) -> int:
    logs.configure(settings.log_level, "json")
    return run_until_signalled(lambda stop: run(settings, stop))
