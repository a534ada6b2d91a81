"""pytest fixtures for S3, SQS, SNS and DynamoDB: the moto server over real HTTP.

One server process per test session (it starts in well under a second, but
hundreds of tests add up); every test that asks for `aws` gets it reset, so
tests never see each other's buckets or queues.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.harness.devserver import MotoServer


@dataclass(frozen=True)
class AwsEndpoint:
    """Where the stand-in AWS answers, and a boto3 client factory for it."""

    server: MotoServer

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    def client(self, service: str) -> Any:
        """A boto3 client for `service`, configured exactly as production code would be."""
        return boto3.client(service, **self.server.client_kwargs())


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws(moto_server: MotoServer) -> AwsEndpoint:
    moto_server.reset()
    return AwsEndpoint(moto_server)


def flip_a_byte_of_a_chunk(s3: Any, bucket: str, account_prefix: str) -> str:
    """Bit rot in the store: one byte in the middle of the account's first chunk object flipped.

    moto keeps whatever it is given (it checks no upload checksum), so only
    wafleet's own verification can notice. Returns the damaged object's key.
    """
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{account_prefix}chunks/")
    key = str(listing["Contents"][0]["Key"])
    blob = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    blob[len(blob) // 2] ^= 0x10
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(blob))
    return key


def queued_messages(sqs: Any, urls: Iterable[str]) -> int:
    """Messages on these queues in any state: visible, in flight, or delayed."""
    total = 0
    for url in urls:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        total += sum(int(value) for value in attributes.values())
    return total
