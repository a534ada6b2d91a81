"""`BulkService` on S3 and DynamoDB: what the HTTP API calls to create, read and cancel jobs.

`create` checks the request's target and text, stages the CSV (streamed upload
or existing object, header checked before anything is kept), then records the
job PENDING; a worker (`bulk.worker`) takes it from there. A request refused
for its input raises `BulkInputError(field, ...)` with nothing stored; a
failure of AWS raises `BulkStoreError` (the staged upload is removed when the
job could not be recorded).
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from session_runner.bulk.csvstream import HeaderRecord
from session_runner.bulk.cursor import Cursor, Lock
from session_runner.bulk.ids import JOB_ID_PATTERN
from session_runner.bulk.model import (
    BulkInputError,
    BulkJob,
    BulkService,
    BulkState,
    BulkStoreError,
)
from session_runner.bulk.rows import check_header
from session_runner.bulk.staging import Limits, Staged, quietly, stage_upload, stage_url
from session_runner.bulk.store import JobStore, StoredJob
from session_runner.bulk.tally import BulkTally
from session_runner.bulk.template import Template, compile_template
from session_runner.contract.bulk_settings import BulkSettings
from session_runner.contract.outbound import TARGET_PATTERN

REPORT_COLUMNS: Final = ("line", "row", "column", "problem")
_JOB_ID = re.compile(rf"^{JOB_ID_PATTERN}$")
_TARGET = re.compile(TARGET_PATTERN)


def new_job_id() -> str:
    return f"bulk-{secrets.token_hex(6)}"


def is_job_id(value: str) -> bool:
    return bool(_JOB_ID.match(value))


def check_request(target: str, text: str, csv_chunks: object | None, url: str | None) -> Template:
    """The request's own fields (before any byte of the CSV is read)."""
    if not _TARGET.match(target):
        raise BulkInputError("target", f"must match {TARGET_PATTERN} (a SenderPool's spec.target)")
    template = compile_template(text)
    if (csv_chunks is None) == (url is None):
        raise BulkInputError("csv", "give either a CSV upload or an s3:// url, not both or none")
    return template


class S3BulkService:
    """The bulk service of one deployment (`BulkSettings`), through boto3 S3 and DynamoDB
    clients (DynamoDB's built with `dynamodb.client_config`: no hidden retries)."""

    def __init__(
        self,
        settings: BulkSettings,
        s3: Any,
        dynamodb: Any,
        *,
        new_id: Callable[[], str] = new_job_id,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.store = JobStore(dynamodb, settings.table)
        self.tally = BulkTally(dynamodb, settings.ledger_table)
        self._new_id = new_id
        self._now = now

    @property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(s.max_header_bytes, s.max_file_bytes, s.upload_part_bytes)

    async def create(
        self,
        *,
        target: str,
        text: str,
        csv_chunks: AsyncIterator[bytes] | None,
        url: str | None,
    ) -> BulkJob:
        template = check_request(target, text, csv_chunks, url)
        job_id = self._new_id()

        def check(field: str) -> Callable[[HeaderRecord], None]:
            def judge(header: HeaderRecord) -> None:
                check_header(
                    header.fields, template, max_columns=self.settings.max_columns, field=field
                )

            return judge

        uploaded = False
        if csv_chunks is not None:
            staged = await stage_upload(
                self.s3,
                bucket=self.settings.bucket,
                key=f"{self.settings.prefix}{job_id}.csv",
                chunks=csv_chunks,
                limits=self.limits,
                check=check("csv"),
            )
            uploaded = True
        else:
            assert url is not None
            staged = await stage_url(
                self.s3,
                url,
                readable_buckets=self.settings.readable_buckets(),
                limits=self.limits,
                check=check("url"),
            )
        job = self._job(job_id, target, text, staged)
        try:
            await self.store.put_new(job)
        except BaseException:
            if uploaded:
                await quietly(self.s3.delete_object, Bucket=staged.bucket, Key=staged.key)
            raise
        return job.to_model()

    async def get(self, job_id: str) -> BulkJob | None:
        if not is_job_id(job_id):
            return None
        return await self._shown(await self.store.get(job_id))

    async def cancel(self, job_id: str) -> BulkJob | None:
        if not is_job_id(job_id):
            return None
        return await self._shown(await self.store.cancel(job_id))

    async def _shown(self, job: StoredJob | None) -> BulkJob | None:
        """The job as the API shows it, with the outcome counters from the ledger's table."""
        if job is None:
            return None
        return replace(job, counts=await self.tally.counts(job.id)).to_model()

    async def error_report(self, job_id: str) -> AsyncIterator[bytes]:
        """`line,row,column,problem`, one line per bad row in row order, a Query page at a time."""
        yield _csv_line(REPORT_COLUMNS)
        if not is_job_id(job_id):
            return
        async for page in self.store.error_pages(job_id):
            if page:
                yield b"".join(
                    _csv_line((str(e.line), str(e.row), e.column, e.problem)) for e in page
                )

    def _job(self, job_id: str, target: str, text: str, staged: Staged) -> StoredJob:
        now = self._now()
        start = staged.header.data_start
        return StoredJob(
            id=job_id,
            target=target,
            text=text,
            source=f"s3://{staged.bucket}/{staged.key}",
            bucket=staged.bucket,
            key=staged.key,
            size=staged.size,
            etag=staged.etag,
            state=BulkState.PENDING,
            lock=Lock(None, 0.0, 0),
            cursor=Cursor(offset=start.offset, row=1, line=start.line),
            created_at=now,
            updated_at=now,
        )


def _csv_line(values: tuple[str, ...]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue().encode("utf-8")


def from_settings(settings: BulkSettings) -> S3BulkService:
    """The service with clients built from `settings` (the usual AWS credentials chain)."""
    import boto3

    from session_runner.aws_location import client_location
    from session_runner.dynamodb import client_config

    location = client_location(settings.aws_region, settings.aws_endpoint_url)
    return S3BulkService(
        settings,
        boto3.client("s3", **location),
        boto3.client("dynamodb", config=client_config(5.0), **location),
    )


__all__ = ["BulkStoreError", "S3BulkService", "from_settings", "is_job_id", "new_job_id"]


def _conforms(service: S3BulkService) -> BulkService:
    """mypy checks here that the implementation satisfies the API's protocol."""
    return service
