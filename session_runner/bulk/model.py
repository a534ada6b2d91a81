"""What a bulk job is, as the API shows it and the bulk service stores it.

The API (`session_runner.api`) depends only on this module and on the
`BulkService` protocol below; `session_runner.bulk.service` implements it on
S3 (the staged CSV), DynamoDB (the job, its cursor, its per-row errors) and
SNS (the rows, published in batches of 10 with the idempotency key
`<jobId>:<row>`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class BulkState(StrEnum):
    """Where a job is. PENDING: staged, no worker yet; RUNNING: a worker holds its lock;
    DONE: every row read and every valid row published; CANCELLED: stopped on request
    (rows already published still send); FAILED: the file could not be read at all."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class BulkProgress(BaseModel):
    """Counts a person follows. `total` is known once the whole file was read."""

    model_config = ConfigDict(frozen=True)

    total: int | None = None
    valid: int = 0
    invalid: int = 0
    published: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0


class BulkJob(BaseModel):
    """One bulk send: a CSV of recipients, one text with `{{column}}` placeholders, one pool."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="The job's id; each row's message id is `<id>:<row>`.")
    target: str = Field(description="The SenderPool route (its spec.target).")
    text: str = Field(description="The message text; `{{column}}` takes the row's value.")
    source: str = Field(description="Where the CSV is: the staged s3:// object.")
    state: BulkState
    progress: BulkProgress
    error: str | None = Field(default=None, description="Why the job FAILED, when it did.")
    created_at: datetime
    updated_at: datetime


class BulkService(Protocol):
    """What the HTTP API needs of bulk sends (implemented by session_runner.bulk.service)."""

    async def create(
        self, *, target: str, text: str, csv_chunks: AsyncIterator[bytes] | None, url: str | None
    ) -> BulkJob:
        """Stage the CSV (an upload streamed in chunks, or an existing s3:// URL) and record
        the job PENDING. Raises `BulkInputError` for a request that cannot become a job."""
        ...

    async def get(self, job_id: str) -> BulkJob | None: ...

    async def cancel(self, job_id: str) -> BulkJob | None:
        """Stop publishing (idempotent); None when there is no such job."""
        ...

    def error_report(self, job_id: str) -> AsyncIterator[bytes]:
        """The per-row error report as CSV (line,row,column,problem), streamed."""
        ...


class BulkInputError(ValueError):
    """A bulk request that cannot become a job; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class BulkStoreError(Exception):
    """S3 or DynamoDB failed (unreachable, throttled, missing table ...): not the request's
    fault, try again. The message names the operation and the AWS error code, never data."""
