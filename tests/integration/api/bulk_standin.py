"""A `BulkService` held in memory that records the size of every chunk it was handed.

The API depends only on the protocol (`bulk.model.BulkService`). Where a test
asks how the upload reached the service (in chunks as it arrived, never
whole) or needs a refusal the real service would not give, this stands in
for it; everywhere else the API runs on the real one
(`conftest.real_bulk`: test_bulk_service.py, test_schemathesis.py,
test_server.py's `main.run`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from session_runner.bulk.model import BulkInputError, BulkJob, BulkProgress, BulkState


@dataclass
class Upload:
    chunks: list[int] = field(default_factory=list)  # the size of each chunk received

    @property
    def total(self) -> int:
        return sum(self.chunks)


@dataclass
class MemoryBulkService:
    jobs: dict[str, BulkJob] = field(default_factory=dict)
    received: dict[str, Upload] = field(default_factory=dict)

    async def create(
        self, *, target: str, text: str, csv_chunks: AsyncIterator[bytes] | None, url: str | None
    ) -> BulkJob:
        job_id = f"bulk-{uuid.uuid4().hex[:16]}"
        upload = Upload()
        rows = 0
        header: bytes | None = None
        if csv_chunks is not None:
            first = bytearray()
            async for chunk in csv_chunks:
                upload.chunks.append(len(chunk))
                rows += chunk.count(b"\n")
                if header is None:
                    first += chunk
                    if b"\n" in first:
                        header = bytes(first.split(b"\n", 1)[0])
            if not upload.total:
                raise BulkInputError("file", "the CSV is empty")
            header = header if header is not None else bytes(first)
            if b"phone" not in header.lstrip(b"\xef\xbb\xbf").split(b","):
                raise BulkInputError("file", "line 1: no `phone` column")
            source = f"s3://staged/{job_id}.csv"
        else:
            assert url is not None
            if url.endswith("/missing.csv"):
                raise BulkInputError("url", "no such object")
            source = url
        now = datetime.now(UTC)
        job = BulkJob(
            id=job_id,
            target=target,
            text=text,
            source=source,
            state=BulkState.PENDING,
            progress=BulkProgress(total=max(rows - 1, 0) if csv_chunks else None),
            created_at=now,
            updated_at=now,
        )
        self.jobs[job_id] = job
        self.received[job_id] = upload
        return job

    async def get(self, job_id: str) -> BulkJob | None:
        return self.jobs.get(job_id)

    async def cancel(self, job_id: str) -> BulkJob | None:
        job = self.jobs.get(job_id)
        if job is None:
            return None
        cancelled = job.model_copy(update={"state": BulkState.CANCELLED})
        self.jobs[job_id] = cancelled
        return cancelled

    async def error_report(self, job_id: str) -> AsyncIterator[bytes]:
        yield b"line,column,problem\r\n"
        yield b'3,phone,"not an E.164 number"\r\n'
