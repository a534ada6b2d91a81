"""The API built by its factory on the real parts: the moto server (SNS, SQS, DynamoDB over
HTTP) and the real API server (this test's namespace, wafleet's CRDs).

The test plays the operator where the operator's work is not under test: it
creates a pool's queue on moto, subscribes it to the outbound topic with the
pool's filter policy, and writes the pool's status (queueUrl, Ready) as the
operator would; for an account sent through, it writes the `wafleet.io/outbound`
wiring annotation the operator writes. One test runs the real operator instead
(test_messages.py). Requests go through httpx's ASGI transport, or a real
socket where the transport matters (test_server.py).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import boto3
import httpx
import pytest
import uvicorn
from aiohttp import web
from fastapi import FastAPI

from session_runner.api.app import build_app
from session_runner.api.deps import ApiContext, Limits
from session_runner.api.keys import ApiKey, KeyStore, entries_json, key_digest
from session_runner.api.main import serve
from session_runner.api.media_probe import MediaProbe
from session_runner.api.metrics import ApiMetrics
from session_runner.api.records import MessageRecords
from session_runner.api.routing import Router
from session_runner.bulk.model import BulkService
from session_runner.bulk.service import S3BulkService
from session_runner.bulk.store import ensure_bulk_table
from session_runner.contract.bulk_settings import BulkSettings
from session_runner.contract.session_outbound import OUTBOUND_ANNOTATION, SessionOutboundWiring
from session_runner.dispatcher.url_safety import parse_networks
from session_runner.kube.client import KubeClient
from session_runner.kube.connection import from_kubeconfig
from session_runner.sender.ledger import Ledger, client_config, ensure_table
from session_runner.sender.message import OutboundMessage
from session_runner.sender.publish import TopicPublisher
from tests.harness.devserver import DEV_REGION
from tests.harness.kube import KubeApi
from tests.harness.local_http import serving
from tests.harness.moto_server import AwsEndpoint
from tests.integration.api.bulk_standin import MemoryBulkService
from tests.integration.conftest import Cluster

GROUP, VERSION = "wafleet.io", "v1alpha1"
TOPIC = "wafleet-outbound"
TABLE = "wafleet-outbound-ledger"
#: Small limits, so oversize bodies are cheap to send.
LIMITS = Limits(max_body_bytes=8 * 1024, max_upload_bytes=256 * 1024, kube_timeout_s=5.0)


@dataclass(frozen=True)
class Keys:
    """The API keys the tests call with (random per session, long: the secret scans look for
    them) and the entries the API knows them by."""

    admin: str = field(default_factory=lambda: f"wfk_{secrets.token_urlsafe(32)}")
    scoped: str = field(default_factory=lambda: f"wfk_{secrets.token_urlsafe(32)}")
    nobody: str = field(default_factory=lambda: f"wfk_{secrets.token_urlsafe(32)}")

    def entries(self) -> list[ApiKey]:
        return [
            ApiKey(name="admin", sha256=key_digest(self.admin).hex()),
            ApiKey(
                name="scoped",
                sha256=key_digest(self.scoped).hex(),
                targets=("alpha",),
                accounts=("alice",),
            ),
            ApiKey(name="nobody", sha256=key_digest(self.nobody).hex(), targets=(), accounts=()),
        ]

    def document(self) -> str:
        return entries_json(self.entries())


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys()


@dataclass
class Outbound:
    """The outbound topic and ledger table on moto, and queues subscribed the way the
    operator subscribes a pool's (raw delivery, a filter on the target attribute)."""

    aws: AwsEndpoint
    sns: Any
    sqs: Any
    dynamodb: Any
    topic_arn: str

    def pool_queue(self, target: str) -> str:
        url = str(self.sqs.create_queue(QueueName=f"q-{target}")["QueueUrl"])
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={
                "RawMessageDelivery": "true",
                "FilterPolicy": json.dumps({"target": [target]}),
            },
        )
        return url

    def received(self, url: str) -> list[OutboundMessage]:
        """Every message on the queue (taken off it)."""
        out: list[OutboundMessage] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return out
            for message in batch:
                out.append(OutboundMessage.from_json(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def outbound(aws: AwsEndpoint) -> Outbound:
    sns = aws.client("sns")
    dynamodb = aws.client("dynamodb")
    ensure_table(dynamodb, TABLE)
    return Outbound(
        aws=aws,
        sns=sns,
        sqs=aws.client("sqs"),
        dynamodb=dynamodb,
        topic_arn=str(sns.create_topic(Name=TOPIC)["TopicArn"]),
    )


BULK_BUCKET = "wafleet-bulk"
BULK_TABLE = "wafleet-bulk-jobs"


def real_bulk(outbound: Outbound) -> S3BulkService:
    """The bulk service itself (`session_runner.bulk.service`) on moto: its staging bucket,
    its jobs table, the outbound topic."""
    s3 = outbound.aws.client("s3")
    s3.create_bucket(Bucket=BULK_BUCKET)
    dynamodb = boto3.client(
        "dynamodb", config=client_config(5.0), **outbound.aws.server.client_kwargs()
    )
    ensure_bulk_table(dynamodb, BULK_TABLE)
    settings = BulkSettings(
        table=BULK_TABLE,
        bucket=BULK_BUCKET,
        topic_arn=outbound.topic_arn,
        aws_endpoint_url=outbound.aws.endpoint_url,
        aws_region=DEV_REGION,
    )
    return S3BulkService(settings, s3, dynamodb)


@dataclass
class Objects:
    """Pools and accounts in the test's namespace, with the status the operator would write."""

    cluster: Cluster
    outbound: Outbound

    def pool(
        self,
        name: str,
        target: str,
        *,
        ready: bool = True,
        vendor: str = "twilio",
        account: str | None = None,
    ) -> str | None:
        spec: dict[str, Any] = {"vendor": vendor, "target": target}
        if vendor == "session":
            spec["accountRef"] = {"name": account}
        else:
            spec["credentialsSecret"] = {"name": f"{name}-creds"}
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SenderPool",
            "metadata": {"name": name},
            "spec": spec,
        }
        custom = self.cluster.custom
        custom.create_namespaced_custom_object(
            GROUP, VERSION, self.cluster.namespace, "senderpools", body
        )
        url = self.outbound.pool_queue(target) if ready else None
        condition = {
            "type": "Ready",
            "status": "True" if ready else "False",
            "reason": "SendersReady" if ready else "InvalidSpec",
            "message": "ready" if ready else "credentialsSecret: Secret not found",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
        status: dict[str, Any] = {"conditions": [condition]}
        if url:
            status["queueUrl"] = url
            status["deadLetterQueueUrl"] = url + "-dlq"
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.cluster.namespace, "senderpools", name, {"status": status}
        )
        return url

    def account(
        self, name: str, *, wired_pool: str | None = None, status: dict[str, Any] | None = None
    ) -> None:
        annotations = {}
        if wired_pool is not None:
            wiring = SessionOutboundWiring(
                pool=wired_pool,
                queue_url="http://queue",
                dead_letter_queue_url="http://dlq",
                ledger_table=TABLE,
                aws_region=DEV_REGION,
                rate_limit_per_second=1.0,
                concurrency=1,
                max_receive_count=5,
                visibility_timeout_seconds=60,
            )
            annotations[OUTBOUND_ANNOTATION] = wiring.to_annotation()
        self.cluster.create_account(
            name,
            {"phoneNumber": "+15550100001", "engine": "local"},
            annotations=annotations,
        )
        if status is not None:
            self.cluster.patch_account_status(name, {"status": status})


@pytest.fixture
def objects(cluster: Cluster, outbound: Outbound) -> Objects:
    return Objects(cluster, outbound)


@dataclass
class Api:
    """The app under test and an httpx client on it."""

    client: httpx.AsyncClient
    context: ApiContext
    metrics: ApiMetrics
    bulk: MemoryBulkService
    keys: Keys

    def as_(self, key: str) -> dict[str, str]:
        return bearer(key)

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.keys.admin)


def api_context(
    kube_api: KubeApi,
    outbound: Outbound,
    keys: Keys,
    bulk: BulkService,
    *,
    namespace: str | None = None,
    limits: Limits = LIMITS,
    kubeconfig: Path | None = None,
    media: MediaProbe | None = None,
) -> ApiContext:
    """The API's dependencies on moto and the API server (as the admin, or `kubeconfig`'s
    identity, e.g. the chart's ServiceAccount)."""
    kube = KubeClient(
        from_kubeconfig(kubeconfig or kube_api.kubeconfig), user_agent="wafleet-api-test"
    )
    # As production builds it: no hidden retries under the conditional writes.
    dynamodb = boto3.client(
        "dynamodb", config=client_config(3.0), **outbound.aws.server.client_kwargs()
    )
    ns = namespace or kube_api.namespace
    return ApiContext(
        namespace=ns,
        keys=KeyStore(text=keys.document()),
        kube=kube,
        router=Router(kube, ns, cache_s=0.0, timeout_s=5.0),
        publisher=TopicPublisher(outbound.sns, outbound.topic_arn),
        records=MessageRecords(dynamodb, TABLE, TABLE),
        ledger=Ledger(dynamodb, TABLE),
        bulk=bulk,
        limits=limits,
        media=media,
    )


LOOPBACK: Final = parse_networks("127.0.0.1/32")


@pytest.fixture
async def api(
    kube_api: KubeApi, cluster: Cluster, outbound: Outbound, keys: Keys
) -> AsyncIterator[Api]:
    for name, value in (("admin", keys.admin), ("scoped", keys.scoped), ("nobody", keys.nobody)):
        kube_api.known_secrets[f"api key {name}"] = value.encode()
    bulk = MemoryBulkService()
    # media URLs are checked on 127.0.0.1 only (the tests' media server); no test reaches
    # further, and a public address would wait for a network this machine may not have
    context = api_context(kube_api, outbound, keys, bulk, media=MediaProbe(LOOPBACK))
    metrics = ApiMetrics(process=False)
    app = build_app(context, metrics)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        try:
            yield Api(client, context, metrics, bulk, keys)
        finally:
            await context.kube.close()


Serve = Callable[[asyncio.Event, Callable[[int], None]], Awaitable[None]]


@contextmanager
def served(run: Serve, timeout: float = 30.0) -> Iterator[str]:
    """`run(stop, ready)` in a thread with its own event loop, as a process would run it;
    yields the base URL once `ready(port)` was called, sets `stop` on the way out."""
    ports: list[int] = []
    started = threading.Event()
    loop_and_stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
    errors: list[BaseException] = []

    def ready(port: int) -> None:
        ports.append(port)
        started.set()

    async def main() -> None:
        stop = asyncio.Event()
        loop_and_stop.append((asyncio.get_running_loop(), stop))
        await run(stop, ready)

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as error:  # reported in the test's thread
            errors.append(error)
            started.set()

    thread = threading.Thread(target=thread_main, name="api-under-test", daemon=True)
    thread.start()
    assert started.wait(timeout), "the API did not start listening"
    if errors:
        raise errors[0]
    try:
        yield f"http://127.0.0.1:{ports[0]}"
    finally:
        loop, stop = loop_and_stop[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        assert not thread.is_alive(), "the API did not stop"
        if errors:
            raise errors[0]


def serving_app(app: FastAPI, context: ApiContext) -> Serve:
    """Serve `app` on a free port of 127.0.0.1 with uvicorn, as `api.main` does."""

    async def run(stop: asyncio.Event, ready: Callable[[int], None]) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
        )
        try:
            await serve(config, stop, ready)
        finally:
            await context.kube.close()

    return run


#: What the tests' media server holds: name -> (Content-Type, Content-Length).
MEDIA_FILES: Final = {
    "receipt.pdf": ("application/pdf", 20_000),
    "big.png": ("image/png", 6 * 1024 * 1024),
    "photo.jpg": ("image/jpeg", 50_000),
}


async def media_head(request: web.Request) -> web.Response:
    """HEAD of a media file: `hop?left=N` redirects N more times, `metadata` redirects to the
    metadata service, `gone.png` is 404, the rest answer MEDIA_FILES (else a PNG)."""
    name = request.match_info["name"]
    if name == "hop":
        left = int(request.query.get("left", "0"))
        target = "/media/p.png" if left == 0 else f"/media/hop?left={left - 1}"
        raise web.HTTPFound(target)
    if name == "metadata":
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")
    if name == "gone.png":
        raise web.HTTPNotFound()
    content_type, size = MEDIA_FILES.get(name, ("image/png", 123456))
    return web.Response(headers={"Content-Type": content_type, "Content-Length": str(size)})


@pytest.fixture
async def media_server() -> AsyncIterator[str]:
    async with serving(media_head, "/media/{name}", method="HEAD") as base:
        yield f"{base}/media"
