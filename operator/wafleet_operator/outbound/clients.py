"""The operator's AWS clients for SenderPools, built once from its settings.

Creating a boto3 client contacts nothing, so an operator that manages only
accounts pays for these at startup and never uses them. Bounded timeouts and
boto3's standard retries (three attempts): every call here is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from wafleet_operator.config import OperatorSettings


@dataclass(frozen=True)
class OutboundClients:
    sqs: Any
    sns: Any
    dynamodb: Any


def connect(settings: OperatorSettings) -> OutboundClients:
    config = Config(
        connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
    )
    kwargs: dict[str, Any] = {"region_name": settings.aws_region, "config": config}
    if settings.aws_endpoint_url:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    return OutboundClients(
        sqs=boto3.client("sqs", **kwargs),
        sns=boto3.client("sns", **kwargs),
        dynamodb=boto3.client("dynamodb", **kwargs),
    )
