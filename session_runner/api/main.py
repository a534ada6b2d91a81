"""`wafleet-runner api`: serve the HTTP API until SIGTERM.

Wires `ApiSettings` to the app's dependencies: the API keys (the mounted
Secret's file, or the environment), the API server (in-cluster, else the
kubeconfig), SNS (the outbound topic, a name resolved once at start-up) and
DynamoDB (the ledger and the API's message records), and the bulk service
(`session_runner.bulk.service`, its own `WAFLEET_BULK_*` settings plus the
topic and AWS location the API resolved). The app is served by
uvicorn on `port`, the metrics by aiohttp on `metrics_port`.

SIGTERM (`signals.run_until_signalled`) tells uvicorn to stop taking
connections and finish the requests in flight; the clients close after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Generator
from typing import Any, Final

import boto3
import uvicorn
import uvloop
from botocore.config import Config

from session_runner import health, logs
from session_runner.api.app import build_app
from session_runner.api.deps import ApiContext, Limits
from session_runner.api.keys import KeysError, KeyStore, env_keys
from session_runner.api.media_probe import MediaProbe
from session_runner.api.metrics import ApiMetrics
from session_runner.api.records import MessageRecords
from session_runner.api.routing import Router
from session_runner.aws_location import client_location
from session_runner.aws_threads import use_aws_threads
from session_runner.bulk.model import BulkService
from session_runner.bulk.service import from_settings
from session_runner.contract.api_settings import ApiSettings
from session_runner.contract.bulk_settings import BulkSettings
from session_runner.dispatcher.url_safety import parse_networks
from session_runner.dynamodb import client_config
from session_runner.gc_freeze import freeze_startup_objects
from session_runner.ingest.topic import resolve_topic_arn
from session_runner.kube.client import KubeClient
from session_runner.sender.ledger import Ledger
from session_runner.sender.metrics import build_metrics_app
from session_runner.sender.publish import TopicPublisher
from session_runner.signals import run_until_signalled

log = logging.getLogger(__name__)

#: Builds the bulk service from the API's settings and the outbound topic's ARN.
BulkFactory = Callable[[ApiSettings, str], BulkService]


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handlers: `run_until_signalled` owns SIGTERM/SIGINT
    and tells the server to exit (uvicorn would otherwise replace them and re-raise the
    signal after its shutdown)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()


#: Threads for the blocking boto3 calls of the requests in flight (asyncio's default, cores
#: + 4, queued a burst of requests' calls behind each other); the clients' connection
#: pools are as wide.
AWS_THREADS: Final = 64


def aws_clients(settings: ApiSettings) -> tuple[Any, Any]:
    """SNS (standard retries: a repeated publish of one id is sent once) and DynamoDB (no
    hidden retries: the records' conditional put must not report its own landing as a
    conflict). Neither checks its parameters client-side: this code builds them, AWS checks
    them anyway, and botocore's check was ~5 % of the API's CPU under load."""
    common = client_location(settings.aws_region, settings.aws_endpoint_url)
    sns = boto3.client(
        "sns",
        config=Config(
            connect_timeout=3,
            read_timeout=5,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=AWS_THREADS,
            parameter_validation=False,
        ),
        **common,
    )
    dynamodb = boto3.client(
        "dynamodb",
        config=client_config(3.0, max_pool_connections=AWS_THREADS).merge(
            Config(parameter_validation=False)
        ),
        **common,
    )
    return sns, dynamodb


def default_bulk(settings: ApiSettings, topic_arn: str) -> BulkService:
    """The bulk service (`session_runner.bulk.service`) on its own settings
    (`WAFLEET_BULK_*`: its staging bucket, its jobs table, its caps), with what the API
    already knows: the outbound topic's ARN, the ledger's table (where the rows' outcomes
    are counted) and where AWS is."""
    return from_settings(
        BulkSettings(
            topic_arn=topic_arn,
            ledger_table=settings.ledger_table,
            aws_region=settings.aws_region,
            aws_endpoint_url=settings.aws_endpoint_url,
        )
    )


def build_context(
    settings: ApiSettings,
    *,
    keys: KeyStore,
    kube: KubeClient,
    sns: Any,
    dynamodb: Any,
    topic_arn: str,
    bulk: BulkService,
) -> ApiContext:
    return ApiContext(
        namespace=settings.namespace,
        keys=keys,
        kube=kube,
        router=Router(
            kube,
            settings.namespace,
            cache_s=settings.routing_cache_seconds,
            timeout_s=settings.kube_timeout_seconds,
        ),
        publisher=TopicPublisher(sns, topic_arn),
        records=MessageRecords(dynamodb, settings.requests_table, settings.ledger_table),
        ledger=Ledger(dynamodb, settings.ledger_table),
        bulk=bulk,
        limits=Limits(
            max_body_bytes=settings.max_body_bytes,
            max_upload_bytes=settings.max_upload_bytes,
            kube_timeout_s=settings.kube_timeout_seconds,
        ),
        media=MediaProbe(
            parse_networks(settings.media_allowed_networks), settings.media_timeout_seconds
        )
        if settings.media_check
        else None,
    )


async def serve(config: uvicorn.Config, stop: asyncio.Event, ready: Callable[[int], None]) -> None:
    """Serve `config`'s app until `stop` is set, then let the requests in flight finish;
    `ready(port)` once it listens (port 0 in the config: the kernel's choice)."""
    server = ApiServer(config)
    serving = asyncio.create_task(server.serve())
    listening = asyncio.create_task(server.listening.wait())
    await asyncio.wait({serving, listening}, return_when=asyncio.FIRST_COMPLETED)
    if not server.listening.is_set():
        listening.cancel()
        await serving  # raises why it could not start
        raise RuntimeError("the API server stopped as it started")
    ready(int(server.servers[0].sockets[0].getsockname()[1]))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await serving


def uvicorn_config(app: Any, settings: ApiSettings) -> uvicorn.Config:
    """No access log (it would log query strings; the metrics count requests), our logging
    left as configured, no Server header."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        http="httptools",
        timeout_graceful_shutdown=20,
        lifespan="off",
    )


async def run(
    settings: ApiSettings,
    stop: asyncio.Event,
    *,
    keys: KeyStore,
    bulk_factory: BulkFactory = default_bulk,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until `stop` is set; `ready(port)` is called once the port listens."""
    use_aws_threads(AWS_THREADS)
    sns, dynamodb = aws_clients(settings)
    topic_arn = await asyncio.to_thread(resolve_topic_arn, sns, settings.outbound_topic)
    metrics = ApiMetrics()
    async with contextlib.AsyncExitStack() as stack:
        kube = KubeClient.connect(user_agent="wafleet-api", max_connections=32)
        stack.push_async_callback(kube.close)
        context = build_context(
            settings,
            keys=keys,
            kube=kube,
            sns=sns,
            dynamodb=dynamodb,
            topic_arn=topic_arn,
            bulk=bulk_factory(settings, topic_arn),
        )
        if settings.metrics_port:
            scrape = await health.serve(
                build_metrics_app(metrics.registry), settings.metrics_port, settings.host
            )
            stack.push_async_callback(scrape.cleanup)

        def listening(port: int) -> None:
            log.info(
                "api listening",
                extra={
                    "port": port,
                    "namespace": settings.namespace,
                    "keys": len(keys.entries),
                    "outbound_topic": topic_arn,
                },
            )
            if ready is not None:
                ready(port)

        app = build_app(context, metrics)
        freeze_startup_objects()
        await serve(uvicorn_config(app, settings), stop, listening)
    log.info("api stopped")


def main(settings: ApiSettings) -> int:
    """Run the API; 2 when the keys cannot be read (the log names the entry and field)."""
    logs.configure(settings.log_level, "json")
    try:
        keys = KeyStore.from_settings(settings.keys_file, env_keys(), settings.keys_reload_seconds)
    except (KeysError, OSError) as error:
        reason = str(error) if isinstance(error, KeysError) else type(error).__name__
        log.error(
            "api cannot start: API keys: %s", reason, extra={"keys_file": str(settings.keys_file)}
        )
        return 2
    # uvloop: asyncio's own loop was a sixth of the API's CPU under the API bench.
    return run_until_signalled(
        lambda stop: run(settings, stop, keys=keys), loop_factory=uvloop.new_event_loop
    )
