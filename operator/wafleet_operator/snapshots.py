"""The operator's one storage duty: removing an account's snapshots on `deletionPolicy: Delete`.

Credentials are read from the account's Secret for this call only and never
logged or stored; without a credentials Secret the operator's own ambient AWS
credentials are used.
"""

from __future__ import annotations

import asyncio
from typing import Any

import boto3

from session_runner.snapshot.layout import account_prefix
from wafleet_operator.api import SnapshotSpec


def _delete_prefix(client_kwargs: dict[str, Any], bucket: str, prefix: str) -> int:
    s3 = boto3.client("s3", **client_kwargs)
    deleted = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted


async def delete_account_snapshots(
    snapshot: SnapshotSpec,
    namespace: str,
    account: str,
    credentials: tuple[str, str] | None,
) -> int:
    """Delete every object under the account's prefix; returns how many were deleted."""
    kwargs: dict[str, Any] = {"region_name": snapshot.region}
    if snapshot.endpoint:
        kwargs["endpoint_url"] = snapshot.endpoint
    if credentials is not None:
        kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = credentials
    prefix = account_prefix(snapshot.prefix, namespace, account)
    return await asyncio.to_thread(_delete_prefix, kwargs, snapshot.bucket, prefix)
