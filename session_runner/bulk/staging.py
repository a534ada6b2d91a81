"""The CSV in S3: an upload streamed into a multipart upload, an `s3://` URL checked, and the
object read back from any byte offset.

Memory stays bounded by one part (`upload_part_bytes`) plus one chunk of the
upload. The header is read from the first `max_header_bytes + 1` bytes and
checked before the first part goes to S3, so a request with a bad header
(a 1,000,000-column one included) is refused after reading at most that much,
with nothing left behind; any refusal after that aborts the multipart upload.

The object's ETag is recorded with the job and every later read is a GET with
`IfMatch`: a CSV replaced after the job was created fails the job instead of
mixing two files' rows under one job's row numbers.

boto3 is synchronous: the async functions run its calls in threads; the
worker's reads (`object_chunks`) run in its reading thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from session_runner.bulk.csvstream import HeaderRecord, read_header
from session_runner.bulk.model import BulkInputError, BulkStoreError

_S3_URL = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.{1,1024})$", re.DOTALL)
NOT_FOUND: Final = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
FORBIDDEN: Final = frozenset({"403", "AccessDenied", "Forbidden"})
CHANGED: Final = frozenset({"412", "PreconditionFailed"})


@dataclass(frozen=True)
class Limits:
    max_header_bytes: int
    max_file_bytes: int
    upload_part_bytes: int


@dataclass(frozen=True)
class Staged:
    """The staged object and its header (checked)."""

    bucket: str
    key: str
    size: int
    etag: str
    header: HeaderRecord


class ObjectGoneError(Exception):
    """The job's CSV is gone or was replaced since the job was created (a person's words)."""


def s3_error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "unknown"))


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) of `s3://bucket/key`; BulkInputError("url") for anything else."""
    match = _S3_URL.match(url)
    if match is None or "\n" in url or "\r" in url:
        raise BulkInputError("url", "must be s3://BUCKET/KEY")
    return match.group(1), match.group(2)


async def stage_upload(
    s3: Any,
    *,
    bucket: str,
    key: str,
    chunks: AsyncIterator[bytes],
    limits: Limits,
    check: Callable[[HeaderRecord], None],
) -> Staged:
    """Stream `chunks` into s3://bucket/key. `check` judges the header (raising
    BulkInputError) before anything is stored; BulkInputError("csv") for an empty, headless
    or oversized file; BulkStoreError when S3 fails. Nothing is left in S3 on any error."""
    buffer = bytearray()
    size = 0
    header: HeaderRecord | None = None
    upload_id: str | None = None
    parts: list[dict[str, Any]] = []
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limits.max_file_bytes:
                raise BulkInputError("csv", f"the CSV is larger than {limits.max_file_bytes} bytes")
            buffer += chunk
            if header is None and len(buffer) > limits.max_header_bytes:
                header = _header(bytes(buffer[: limits.max_header_bytes + 1]), False, limits)
                check(header)
            while header is not None and len(buffer) >= limits.upload_part_bytes:
                if upload_id is None:
                    started = await _s3(
                        "start upload", s3.create_multipart_upload, Bucket=bucket, Key=key
                    )
                    upload_id = str(started["UploadId"])
                body = bytes(buffer[: limits.upload_part_bytes])
                del buffer[: limits.upload_part_bytes]
                parts.append(await _part(s3, bucket, key, upload_id, len(parts) + 1, body))
        if header is None:
            header = _header(bytes(buffer), True, limits)
            check(header)
        if upload_id is None:
            answer = await _s3("store", s3.put_object, Bucket=bucket, Key=key, Body=bytes(buffer))
        else:
            if buffer:
                parts.append(await _part(s3, bucket, key, upload_id, len(parts) + 1, bytes(buffer)))
            answer = await _s3(
                "complete upload",
                s3.complete_multipart_upload,
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            upload_id = None
    except BaseException:
        if upload_id is not None:
            await quietly(s3.abort_multipart_upload, Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return Staged(bucket, key, size, str(answer["ETag"]), header)


async def stage_url(
    s3: Any,
    url: str,
    *,
    readable_buckets: frozenset[str],
    limits: Limits,
    check: Callable[[HeaderRecord], None],
) -> Staged:
    """An existing object: it must be in a readable bucket, exist, be within the size cap and
    have a good header. BulkInputError("url") naming what is wrong."""
    bucket, key = parse_s3_url(url)
    if bucket not in readable_buckets:
        raise BulkInputError("url", f"bucket {bucket!r} is not one bulk sends may read")
    try:
        head = await asyncio.to_thread(s3.head_object, Bucket=bucket, Key=key)
    except ClientError as error:
        code = s3_error_code(error)
        if code in NOT_FOUND:
            raise BulkInputError("url", "there is no such object") from None
        if code in FORBIDDEN:
            raise BulkInputError("url", "wafleet is not allowed to read it") from None
        raise BulkStoreError(f"bulk check url: {code}") from None
    except (BotoCoreError, OSError) as error:
        raise BulkStoreError(f"bulk check url: {type(error).__name__}") from None
    size = int(head["ContentLength"])
    etag = str(head["ETag"])
    if size == 0:
        raise BulkInputError("url", "the CSV is empty: it has no header row")
    if size > limits.max_file_bytes:
        raise BulkInputError("url", f"the CSV is larger than {limits.max_file_bytes} bytes")
    try:
        prefix = await asyncio.to_thread(
            read_prefix, s3, bucket, key, etag, limits.max_header_bytes + 1
        )
    except ObjectGoneError as gone:
        raise BulkInputError("url", str(gone)) from None
    header = _header(prefix, len(prefix) >= size, limits, field="url")
    check(header)
    return Staged(bucket, key, size, etag, header)


def read_prefix(s3: Any, bucket: str, key: str, etag: str, length: int) -> bytes:
    """The object's first `length` bytes (fewer when it is shorter), if it is still `etag`."""
    body = _get(s3, bucket, key, etag, f"bytes=0-{length - 1}")
    try:
        return bytes(body.read())
    finally:
        body.close()


def object_chunks(
    s3: Any, bucket: str, key: str, etag: str, offset: int, chunk_bytes: int
) -> Iterator[bytes]:
    """The object's bytes from `offset` on, `chunk_bytes` at a time (a Range GET, streamed:
    never more than a chunk in memory). Blocking: iterate it in a thread."""
    body = _get(s3, bucket, key, etag, f"bytes={offset}-")
    try:
        yield from body.iter_chunks(chunk_bytes)
    except (BotoCoreError, OSError) as error:
        raise BulkStoreError(f"bulk read csv: {type(error).__name__}") from None
    finally:
        body.close()


def _get(s3: Any, bucket: str, key: str, etag: str, byte_range: str) -> Any:
    try:
        return s3.get_object(Bucket=bucket, Key=key, IfMatch=etag, Range=byte_range)["Body"]
    except ClientError as error:
        code = s3_error_code(error)
        if code in NOT_FOUND:
            raise ObjectGoneError("the CSV is gone from S3") from None
        if code in CHANGED:
            raise ObjectGoneError("the CSV in S3 was replaced after the job was created") from None
        if code in FORBIDDEN:
            raise ObjectGoneError("wafleet is no longer allowed to read the CSV") from None
        raise BulkStoreError(f"bulk read csv: {code}") from None
    except (BotoCoreError, OSError) as error:
        raise BulkStoreError(f"bulk read csv: {type(error).__name__}") from None


def _header(prefix: bytes, complete: bool, limits: Limits, field: str = "csv") -> HeaderRecord:
    return read_header(
        prefix, complete=complete, max_header_bytes=limits.max_header_bytes, field=field
    )


async def _part(
    s3: Any, bucket: str, key: str, upload_id: str, number: int, body: bytes
) -> dict[str, Any]:
    answer = await _s3(
        "upload part",
        s3.upload_part,
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        PartNumber=number,
        Body=body,
    )
    return {"PartNumber": number, "ETag": answer["ETag"]}


async def _s3(what: str, method: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        answer: dict[str, Any] = await asyncio.to_thread(method, **kwargs)
    except ClientError as error:
        raise BulkStoreError(f"bulk {what}: {s3_error_code(error)}") from None
    except (BotoCoreError, OSError) as error:
        raise BulkStoreError(f"bulk {what}: {type(error).__name__}") from None
    return answer


async def quietly(method: Any, **kwargs: Any) -> None:
    """A clean-up call whose failure must not hide the error being raised."""
    with contextlib.suppress(ClientError, BotoCoreError, OSError):
        await asyncio.to_thread(method, **kwargs)
