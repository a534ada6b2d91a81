"""A bulk deployment on the moto server: the staging bucket, the jobs table, the outbound topic
and one pool's queue subscribed to it as the operator subscribes it (raw, filtered on target)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from session_runner.bulk.service import S3BulkService
from session_runner.bulk.store import ensure_bulk_table
from session_runner.bulk.worker import BulkWorker
from session_runner.contract.bulk_settings import BulkSettings
from session_runner.dynamodb import client_config
from session_runner.sender.ledger import ensure_table
from session_runner.sender.message import OutboundMessage
from tests.harness.devserver import MotoServer
from tests.harness.moto_server import AwsEndpoint
from wafleet_operator.outbound.resources import filter_policy

TARGET = "bulk-pool"
BUCKET = "wafleet-bulk"
TABLE = "wafleet-bulk-jobs"
#: The outbound ledger, where the senders and the status forwarders count rows' outcomes.
LEDGER = "wafleet-bulk-ledger"


@dataclass
class BulkWorld:
    """The AWS side of bulk sends, and factories for services and in-process workers."""

    moto: MotoServer
    topic_arn: str
    queue_url: str

    def client(self, service: str) -> Any:
        if service == "dynamodb":
            return boto3.client("dynamodb", config=client_config(5.0), **self.moto.client_kwargs())
        return boto3.client(service, **self.moto.client_kwargs())

    def settings(self, **overrides: Any) -> BulkSettings:
        values: dict[str, Any] = {
            "table": TABLE,
            "ledger_table": LEDGER,
            "bucket": BUCKET,
            "prefix": "uploads/",
            "topic_arn": self.topic_arn,
            "aws_endpoint_url": self.moto.endpoint_url,
            "aws_region": "us-east-1",
            "lock_seconds": 10.0,
            "heartbeat_seconds": 2.0,
            "poll_seconds": 0.2,
            "exit_when_idle": True,
            **overrides,
        }
        return BulkSettings(**values)

    def service(self, settings: BulkSettings | None = None) -> S3BulkService:
        return S3BulkService(
            settings or self.settings(), self.client("s3"), self.client("dynamodb")
        )

    def worker(self, settings: BulkSettings | None = None, identity: str = "w") -> BulkWorker:
        return BulkWorker(
            settings or self.settings(),
            s3=self.client("s3"),
            dynamodb=self.client("dynamodb"),
            sns=self.client("sns"),
            identity=identity,
        )

    def drain(self) -> list[OutboundMessage]:
        """Every message waiting on the pool's queue (received and deleted)."""
        sqs = self.client("sqs")
        found: list[OutboundMessage] = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return found
            found.extend(OutboundMessage.from_json(m["Body"]) for m in messages)
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(messages)
                ],
            )


def make_world(moto: MotoServer, *, queue: str = "bulk-pool-queue") -> BulkWorld:
    """Create the bucket, table, topic and the pool's queue on `moto`."""
    kwargs = moto.client_kwargs()
    s3 = boto3.client("s3", **kwargs)
    sns = boto3.client("sns", **kwargs)
    sqs = boto3.client("sqs", **kwargs)
    s3.create_bucket(Bucket=BUCKET)
    ensure_bulk_table(boto3.client("dynamodb", **kwargs), TABLE)
    ensure_table(boto3.client("dynamodb", **kwargs), LEDGER)
    topic = str(sns.create_topic(Name="wafleet-outbound")["TopicArn"])
    url = str(sqs.create_queue(QueueName=queue)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": filter_policy(TARGET), "RawMessageDelivery": "true"},
    )
    return BulkWorld(moto, topic, url)


@pytest.fixture
def world(aws: AwsEndpoint) -> BulkWorld:
    return make_world(aws.server)


async def until(
    check: Callable[[], Awaitable[bool]], *, every_s: float = 0.05, limit_s: float = 60.0
) -> None:
    """Poll `check` until it holds (a safety limit, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    for _ in itertools.count():
        if await check():
            return
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(every_s)


async def chunks_of(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    """An upload as the API hands it over: the body in chunks."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


class CountingUpload:
    """An upload of `parts`, remembering how many bytes the service pulled from it."""

    def __init__(self, parts: Iterable[bytes]) -> None:
        self.parts = parts
        self.pulled = 0

    async def stream(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            self.pulled += len(part)
            yield part
