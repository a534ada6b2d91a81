"""Where `wafleet bulk` creates and reads jobs: through the HTTP API, or the bulk service itself.

Both answer with `bulk.model.BulkJob` and fail with `CommandError`, so the
commands (and `bulk.follow`) do not care which one they hold:

- `ApiBulk`: `POST /v1/bulk` (the CSV streamed from the file), `GET /v1/bulk/{id}`,
  `POST /v1/bulk/{id}/cancel`, `GET /v1/bulk/{id}/errors`;
- `DirectBulk`: `session_runner.bulk.service` on the caller's AWS credentials, the
  same service the API runs (`from_settings(BulkSettings(...))`), so a job created
  either way is the same job; a worker (`wafleet-runner bulk-worker`) publishes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, Final, Protocol

from pydantic import ValidationError

from session_runner.bulk.model import BulkInputError, BulkJob, BulkService, BulkStoreError
from session_runner.cli.api_client import ApiClient
from session_runner.cli.problems import EXIT_USAGE, CommandError

#: How much of the file each read hands the bulk service (it streams it to S3 in parts).
READ_CHUNK_BYTES: Final = 256 * 1024


def is_url(source: str) -> bool:
    """FILE names a CSV already in S3 rather than a local file."""
    return source.startswith("s3://")


def bulk_fields(target_option: str) -> dict[str, str]:
    """The request's fields (the API's and the service's names) → what the user typed."""
    return {"target": target_option, "text": "--text", "file": "FILE", "url": "FILE", "csv": "FILE"}


class BulkBackend(Protocol):
    async def create(self, target: str, text: str, source: str) -> BulkJob: ...

    async def get(self, job_id: str) -> BulkJob: ...

    async def cancel(self, job_id: str) -> BulkJob: ...

    def errors(self, job_id: str) -> AsyncIterator[bytes]: ...


def _job(body: Mapping[str, Any]) -> BulkJob:
    try:
        return BulkJob.model_validate(body)
    except ValidationError:
        raise CommandError("the API answered a bulk job this CLI cannot read") from None


class ApiBulk:
    """Bulk jobs through the HTTP API (`client` entered by the caller)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    async def create(self, target: str, text: str, source: str) -> BulkJob:
        if is_url(source):
            return _job(await self.client.create_bulk_from_url(target, text, source))
        return _job(await self.client.create_bulk(target, text, Path(source)))

    async def get(self, job_id: str) -> BulkJob:
        return _job(await self.client.bulk(job_id))

    async def cancel(self, job_id: str) -> BulkJob:
        return _job(await self.client.cancel_bulk(job_id))

    def errors(self, job_id: str) -> AsyncIterator[bytes]:
        return self.client.bulk_errors(job_id)


async def file_chunks(path: Path, size: int = READ_CHUNK_BYTES) -> AsyncIterator[bytes]:
    """The file's bytes, `size` at a time, read in a thread (never all of it at once)."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise CommandError(f"FILE: cannot read {path}: {error.strerror}", EXIT_USAGE) from None
    with handle:
        while chunk := await asyncio.to_thread(handle.read, size):
            yield chunk


class DirectBulk:
    """Bulk jobs through the bulk service on the caller's AWS credentials."""

    def __init__(self, service: BulkService, fields: Mapping[str, str]) -> None:
        self.service = service
        self.fields = dict(fields)

    def _refused(self, error: BulkInputError) -> CommandError:
        return CommandError(f"{self.fields.get(error.field, error.field)}: {error}", EXIT_USAGE)

    async def create(self, target: str, text: str, source: str) -> BulkJob:
        try:
            if is_url(source):
                return await self.service.create(
                    target=target, text=text, csv_chunks=None, url=source
                )
            return await self.service.create(
                target=target, text=text, csv_chunks=file_chunks(Path(source)), url=None
            )
        except BulkInputError as error:
            raise self._refused(error) from None
        except BulkStoreError as error:
            raise CommandError(f"AWS: {error}") from None

    async def get(self, job_id: str) -> BulkJob:
        try:
            job = await self.service.get(job_id)
        except BulkStoreError as error:
            raise CommandError(f"AWS: {error}") from None
        if job is None:
            raise CommandError(f"no bulk job {job_id}")
        return job

    async def cancel(self, job_id: str) -> BulkJob:
        try:
            job = await self.service.cancel(job_id)
        except BulkStoreError as error:
            raise CommandError(f"AWS: {error}") from None
        if job is None:
            raise CommandError(f"no bulk job {job_id}")
        return job

    async def errors(self, job_id: str) -> AsyncIterator[bytes]:
        await self.get(job_id)  # an unknown job is an error, not an empty report
        try:
            async for chunk in self.service.error_report(job_id):
                yield chunk
        except BulkStoreError as error:
            raise CommandError(f"AWS: {error}") from None
