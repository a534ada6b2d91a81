"""`wafleet-runner bulk-worker`: one bulk worker, from its settings, until SIGTERM.

The worker's identity is the pod name plus a random suffix chosen at start: a
restarted pod keeps its name, and must not take its dead predecessor's lock
for its own.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from session_runner import logs
from session_runner.aws_threads import use_aws_threads
from session_runner.contract.bulk_settings import BulkSettings
from session_runner.ingest.topic import resolve_topic_arn
from session_runner.signals import run_until_signalled

log = logging.getLogger(__name__)


def aws_threads(settings: BulkSettings) -> int:
    """Threads for the blocking boto3 calls: every PublishBatch in flight with its error
    write, the reader, a heartbeat, a cursor write, and a spare."""
    return 2 * settings.publish_concurrency + 4


def clients(settings: BulkSettings) -> tuple[object, object, object]:
    """S3 and SNS with boto3's standard retries (a re-published row is sent once: same id);
    DynamoDB without hidden retries (conditional writes: a retried one could report a false
    conflict)."""
    import boto3
    from botocore.config import Config

    from session_runner.aws_location import client_location
    from session_runner.dynamodb import client_config

    location = client_location(settings.aws_region, settings.aws_endpoint_url)
    pool = aws_threads(settings)
    retrying = Config(
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=pool,
    )
    return (
        boto3.client("s3", config=retrying, **location),
        boto3.client("dynamodb", config=client_config(5.0, max_pool_connections=pool), **location),
        boto3.client("sns", config=retrying, **location),
    )


async def run(settings: BulkSettings, stop: asyncio.Event) -> None:
    """The worker until `stop` (or, with exit_when_idle, no active job). A topic name is
    resolved to its ARN first, as the API does, so both can be given the same value."""
    from session_runner.bulk.worker import BulkWorker

    use_aws_threads(aws_threads(settings))
    s3, dynamodb, sns = clients(settings)
    topic_arn = await asyncio.to_thread(resolve_topic_arn, sns, settings.topic_arn)
    settings = settings.model_copy(update={"topic_arn": topic_arn})
    identity = f"{settings.pod_name}-{secrets.token_hex(4)}"
    worker = BulkWorker(settings, s3=s3, dynamodb=dynamodb, sns=sns, identity=identity)
    scrape = None
    if settings.metrics_port:
        from session_runner.bulk.metrics import worker_registry
        from session_runner.health import serve
        from session_runner.sender.metrics import build_metrics_app

        registry = worker_registry(lambda: worker.stats)
        scrape = await serve(build_metrics_app(registry), settings.metrics_port)
    log.info("bulk worker %s started", identity)
    try:
        await worker.run(stop)
    finally:
        if scrape is not None:
            await scrape.cleanup()
    log.info("bulk worker %s stopped: %s", identity, worker.stats)


def main(settings: BulkSettings) -> int:
    """Run the worker until SIGTERM or SIGINT (or, with exit_when_idle, no active job)."""
    logs.configure(settings.log_level, "json")
    return run_until_signalled(lambda stop: run(settings, stop))
