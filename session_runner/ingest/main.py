"""`wafleet-runner ingest`: serve the vendors' webhooks until SIGTERM.

Wires the routes (`server.py`) to the pools' secrets (from the API server, or
the files under `credentials_dir`: `secrets_source`), the ledger's delivery
attributes (DynamoDB) and the events topic (SNS; a name is resolved to its ARN
at start-up, `topic.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import boto3
from botocore.config import Config

from session_runner import health, logs
from session_runner.aws_location import client_location
from session_runner.contract.ingest_settings import IngestSettings
from session_runner.dynamodb import client_config
from session_runner.events.delivery import DeliveryLedger
from session_runner.events.event import Event
from session_runner.events.forward import forward
from session_runner.events.publish import EventPublisher
from session_runner.ingest.kube_secrets import KubeSecrets
from session_runner.ingest.secrets import FileSecrets, SecretsProvider
from session_runner.ingest.server import build_app, start
from session_runner.ingest.topic import resolve_topic_arn
from session_runner.kube.client import KubeClient
from session_runner.signals import run_until_signalled

log = logging.getLogger(__name__)


def aws_clients(settings: IngestSettings) -> tuple[Any, Any]:
    """SNS (standard retries: a repeated publish only repeats an event with the same id) and
    DynamoDB (no hidden retries, as every conditional writer in wafleet)."""
    common = client_location(settings.aws_region, settings.aws_endpoint_url)
    sns = boto3.client(
        "sns",
        config=Config(
            connect_timeout=3,
            read_timeout=5,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=32,
        ),
        **common,
    )
    dynamodb = boto3.client(
        "dynamodb", config=client_config(3.0, max_pool_connections=32), **common
    )
    return sns, dynamodb


def secrets_provider(settings: IngestSettings, stack: contextlib.AsyncExitStack) -> SecretsProvider:
    """The provider `secrets_source` names; a Kubernetes client is closed with `stack`.
    In a pod the client uses its ServiceAccount's token, elsewhere the kubeconfig."""
    if settings.secrets_source == "files":
        return FileSecrets(settings.credentials_dir)
    kube = KubeClient.connect(user_agent="wafleet-ingest", max_connections=16)
    stack.push_async_callback(kube.close)
    return KubeSecrets(
        kube, ttl_s=settings.secrets_cache_seconds, namespaces=settings.namespace_list
    )


async def run(
    settings: IngestSettings, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> None:
    """Serve until `stop` is set; `ready` is set once the port listens (tests wait on it)."""
    sns, dynamodb = aws_clients(settings)
    topic_arn = await asyncio.to_thread(resolve_topic_arn, sns, settings.events_topic_arn)
    deliveries = DeliveryLedger(dynamodb, settings.ledger_table)
    publisher = EventPublisher(sns, topic_arn)

    async def sink(events: list[Event]) -> None:
        await forward(events, deliveries, publisher)

    async with contextlib.AsyncExitStack() as stack:
        app = build_app(
            public_base_url=settings.public_base_url,
            secrets=secrets_provider(settings, stack),
            sink=sink,
            max_body_bytes=settings.max_body_bytes,
            processing_timeout_s=settings.processing_timeout_seconds,
        )
        server, port = await start(app, settings.host, settings.port)
        stack.push_async_callback(server.cleanup)
        if settings.health_port:
            probes = await health.serve(
                health.build_app(lambda: True, lambda: True), settings.health_port, settings.host
            )
            stack.push_async_callback(probes.cleanup)
        log.info(
            "ingest listening",
            extra={
                "port": port,
                "public_base_url": settings.public_base_url,
                "secrets_source": settings.secrets_source,
                "events_topic": topic_arn,
            },
        )
        if ready is not None:
            ready.set()
        await stop.wait()
    log.info("ingest stopped")


def main(settings: IngestSettings) -> int:
    logs.configure(settings.log_level, "json")
    return run_until_signalled(lambda stop: run(settings, stop))
