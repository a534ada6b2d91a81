"""The bulk worker: claims a job, streams its CSV, publishes its rows, records where it is.

One job at a time, held with a lock (owner, expiry, fence) that a heartbeat
keeps alive (`cursor.py` has the rules, `store.py` the conditional writes):

1. the header is read again from the start of the object (a bounded Range GET);
2. the rows are read from the cursor's byte offset on (a streamed Range GET),
   validated and cut into batches (`batches.py`) in a thread, while up to
   `publish_concurrency` SNS PublishBatch calls are in flight; a batch's bad
   rows are written as error items beside its publish;
3. the cursor moves to the end of the completed batches every
   `cursor_every_batches` batches or `cursor_every_seconds`, conditionally on
   our lock; at the end of the file the job is DONE, with its total.

A worker that dies leaves its lock to expire; its successor resumes from the
last cursor and publishes the rows after it again, with the same ids, which the
ledger sends once. A refused conditional write tells the worker the job was
cancelled or taken over, and it stops. SIGTERM stops it between batches: it
writes the cursor and releases the lock so a successor need not wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from session_runner.bulk.batches import Batch, build_batches, failed_entries, publish_entries
from session_runner.bulk.csvstream import LineSource, RecordReader, read_header
from session_runner.bulk.cursor import ClaimAction, CursorWindow, Lock, cursor_due
from session_runner.bulk.model import BulkInputError, BulkStoreError
from session_runner.bulk.rows import Header, check_header
from session_runner.bulk.staging import ObjectGoneError, object_chunks, read_prefix
from session_runner.bulk.store import HolderWrite, JobStore, StoredJob
from session_runner.bulk.template import compile_template
from session_runner.contract.bulk_settings import BulkSettings

log = logging.getLogger(__name__)

#: PublishBatch attempts for one batch (its failed entries, or the whole call) before the run
#: gives up and leaves the job to the next claim.
MAX_PUBLISH_ATTEMPTS: Final = 8


class Ending(StrEnum):
    """How one run of a job ended."""

    DONE = "DONE"  # the file was read to its end and every valid row published
    CANCELLED = "CANCELLED"
    LOST = "LOST"  # another worker holds the job now (our lock ran out)
    FAILED = "FAILED"  # the CSV cannot be read (gone, replaced): the job is FAILED
    STOPPED = "STOPPED"  # asked to stop: cursor written, lock released
    ABORTED = "ABORTED"  # AWS kept failing: lock released, the job is tried again later


class PublishError(Exception):
    """SNS did not take a batch after every attempt (its message names SNS's error code)."""


@dataclass
class WorkerStats:
    claims: int = 0
    runs: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    published: int = 0  # messages SNS took (re-publishes after a takeover included)
    publish_retries: int = 0
    cursor_writes: int = 0
    peak_buffered_bytes: int = 0  # the most CSV bytes the reader held at once


@dataclass
class _Run:
    """One job's run: the job as claimed, our lock, and why we stop (None: not stopping)."""

    job: StoredJob
    lock: Lock
    lock_deadline: float  # monotonic: our lock surely holds until then
    ending: Ending | None = None

    def stop(self, ending: Ending) -> None:
        if self.ending is None:
            self.ending = ending


class BulkWorker:
    """Works bulk jobs from `settings.table` until `stop` is set."""

    def __init__(
        self,
        settings: BulkSettings,
        *,
        s3: Any,
        dynamodb: Any,
        sns: Any,
        identity: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.sns = sns
        self.store = JobStore(dynamodb, settings.table, clock=clock)
        self.identity = identity
        self.stats = WorkerStats()
        self._stop = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and work jobs until `stop` (or, with `exit_when_idle`, until none is active)."""
        self._stop = stop
        while not stop.is_set():
            try:
                ending = await self.run_once()
            except BulkStoreError as error:
                log.warning("bulk worker %s: %s", self.identity, error)
                ending = Ending.ABORTED
            if ending is None and self.settings.exit_when_idle and not await self._any_active():
                return
            if ending is None or ending is Ending.ABORTED:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.poll_seconds)

    async def run_once(self) -> Ending | None:
        """Claim one job whose lock is free and work it; None when there was none to claim."""
        now = time.time()
        for candidate in await self.store.active():
            if now < candidate.lock_expires_at:
                continue
            decision, job = await self.store.claim(
                candidate.id, self.identity, self.settings.lock_seconds
            )
            if decision.action is ClaimAction.CLAIM and job is not None:
                self.stats.claims += 1
                ending = await self.work(job)
                self.stats.runs[ending.value] = self.stats.runs.get(ending.value, 0) + 1
                return ending
        return None

    async def work(self, job: StoredJob) -> Ending:
        """One run of a job we hold the lock of."""
        run = _Run(job, job.lock, time.monotonic() + self.settings.lock_seconds)
        log.info(
            "bulk job %s claimed by %s (fence %d) at row %d",
            job.id,
            self.identity,
            job.lock.fence,
            job.cursor.row,
        )
        heartbeat = asyncio.create_task(self._heartbeat(run))
        try:
            ending = await self._work(run)
        finally:
            heartbeat.cancel()
            # gather, not suppress(CancelledError): a cancellation of this task itself
            # while it waits here must go on propagating.
            await asyncio.gather(heartbeat, return_exceptions=True)
        log.info("bulk job %s: %s (worker %s)", job.id, ending.value, self.identity)
        return ending

    async def _work(self, run: _Run) -> Ending:
        job = run.job
        try:
            header = await self._header(job)
        except (ObjectGoneError, BulkInputError) as why:
            return await self._fail(run, str(why))
        try:
            ending = await self._publish_file(run, header)
        except ObjectGoneError as why:
            return await self._fail(run, str(why))
        except (PublishError, BulkStoreError) as error:
            log.warning("bulk job %s: run aborted: %s", job.id, error)
            with contextlib.suppress(BulkStoreError):
                await self.store.release(job.id, run.lock)
            return Ending.ABORTED
        return ending

    async def _header(self, job: StoredJob) -> Header:
        limit = self.settings.max_header_bytes
        prefix = await asyncio.to_thread(
            read_prefix, self.s3, job.bucket, job.key, job.etag, limit + 1
        )
        record = read_header(
            prefix, complete=len(prefix) >= job.size, max_header_bytes=limit, field="csv"
        )
        return check_header(
            record.fields,
            compile_template(job.text),
            max_columns=self.settings.max_columns,
            field="csv",
        )

    async def _publish_file(self, run: _Run, header: Header) -> Ending:
        settings = self.settings
        job = run.job
        window = CursorWindow(job.cursor)
        batches = self._batches(job, header) if job.cursor.offset < job.size else iter(())
        tasks: dict[asyncio.Task[None], int] = {}
        exhausted = False
        since_batches = 0
        last_write = time.monotonic()
        try:
            while True:
                self._check(run)
                while (
                    run.ending is None
                    and not exhausted
                    and len(tasks) < settings.publish_concurrency
                ):
                    wanted = settings.publish_concurrency - len(tasks)
                    got = await asyncio.to_thread(_take, batches, wanted)
                    exhausted = len(got) < wanted
                    for batch in got:
                        seq = window.dispatch(batch.end)
                        tasks[asyncio.create_task(self._send(job, batch))] = seq
                if not tasks:
                    break
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    seq = tasks.pop(task)
                    task.result()  # a PublishError ends the run (the cursor stays behind it)
                    since_batches += window.complete(seq)
                if run.ending is None and cursor_due(
                    since_batches,
                    time.monotonic() - last_write,
                    every_batches=settings.cursor_every_batches,
                    every_seconds=settings.cursor_every_seconds,
                ):
                    outcome = await self.store.write_cursor(job.id, run.lock, window.confirmed)
                    self.stats.cursor_writes += 1
                    since_batches, last_write = 0, time.monotonic()
                    self._holder(run, outcome)
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            close = getattr(batches, "close", None)
            if close is not None:  # the generator's S3 body: closed in a thread, it may block
                await asyncio.to_thread(close)
        if run.ending is None:
            return await self._finish(run, window)
        if run.ending is Ending.STOPPED:
            with contextlib.suppress(BulkStoreError):
                if since_batches:
                    await self.store.write_cursor(job.id, run.lock, window.confirmed)
                await self.store.release(job.id, run.lock)
        return run.ending

    async def _finish(self, run: _Run, window: CursorWindow) -> Ending:
        outcome = await self.store.finish(run.job.id, run.lock, window.confirmed)
        if outcome is HolderWrite.OK:
            return Ending.DONE
        return Ending.CANCELLED if outcome is HolderWrite.CANCELLED else Ending.LOST

    async def _fail(self, run: _Run, why: str) -> Ending:
        log.warning("bulk job %s failed: %s", run.job.id, why)
        outcome = await self.store.fail(run.job.id, run.lock, why)
        if outcome is HolderWrite.OK:
            return Ending.FAILED
        return Ending.CANCELLED if outcome is HolderWrite.CANCELLED else Ending.LOST

    def _check(self, run: _Run) -> None:
        """Stop on request, or once our lock may have run out (a heartbeat did not land)."""
        if self._stop.is_set():
            run.stop(Ending.STOPPED)
        if time.monotonic() >= run.lock_deadline:
            run.stop(Ending.LOST)

    def _holder(self, run: _Run, outcome: HolderWrite) -> None:
        if outcome is HolderWrite.CANCELLED:
            run.stop(Ending.CANCELLED)
        elif outcome is HolderWrite.LOST:
            run.stop(Ending.LOST)

    def _batches(self, job: StoredJob, header: Header) -> Iterator[Batch]:
        """The batches from the cursor on (blocking: advanced in worker threads)."""
        settings = self.settings
        cursor = job.cursor
        chunks = object_chunks(
            self.s3, job.bucket, job.key, job.etag, cursor.offset, settings.read_chunk_bytes
        )
        source = LineSource(
            chunks, offset=cursor.offset, line=cursor.line, max_line_bytes=settings.max_record_bytes
        )
        reader = RecordReader(
            source, start=cursor.position, max_record_bytes=settings.max_record_bytes
        )
        template = compile_template(job.text)
        try:
            for batch in build_batches(reader, cursor, header, template):
                self.stats.peak_buffered_bytes = max(
                    self.stats.peak_buffered_bytes, source.peak_buffered
                )
                yield batch
        finally:
            self.stats.peak_buffered_bytes = max(
                self.stats.peak_buffered_bytes, source.peak_buffered
            )

    async def _send(self, job: StoredJob, batch: Batch) -> None:
        """Publish the batch's messages and write its error items, at once."""
        work = [self._publish(publish_entries(job.id, job.target, batch))]
        if batch.errors:
            work.append(self.store.put_errors(job.id, batch.errors))
        await asyncio.gather(*work)
        self.stats.batches += 1

    async def _publish(self, entries: list[dict[str, Any]]) -> None:
        pending: list[Any] = entries
        why = ""
        for attempt in range(MAX_PUBLISH_ATTEMPTS):
            if not pending:
                return
            if attempt:
                self.stats.publish_retries += 1
                await asyncio.sleep(min(5.0, 0.1 * 2 ** (attempt - 1)))
            try:
                answer = await asyncio.to_thread(
                    self.sns.publish_batch,
                    TopicArn=self.settings.topic_arn,
                    PublishBatchRequestEntries=pending,
                )
            except ClientError as error:
                why = str(error.response.get("Error", {}).get("Code", "unknown"))
                continue
            except (BotoCoreError, OSError) as error:
                why = type(error).__name__
                continue
            taken = len(pending)
            pending = failed_entries(pending, answer)
            self.stats.published += taken - len(pending)
            if pending:
                why = str((answer.get("Failed") or [{}])[0].get("Code", "unknown"))
        if pending:
            raise PublishError(f"SNS PublishBatch: {why}")

    async def _heartbeat(self, run: _Run) -> None:
        settings = self.settings
        while run.ending is None:
            await asyncio.sleep(settings.heartbeat_seconds)
            sent_at = time.monotonic()
            try:
                outcome, lock = await self.store.heartbeat(
                    run.job.id, run.lock, settings.lock_seconds
                )
            except BulkStoreError as error:
                log.warning("bulk job %s: heartbeat failed: %s", run.job.id, error)
                continue
            if outcome is HolderWrite.OK:
                run.lock = lock
                run.lock_deadline = sent_at + settings.lock_seconds
            else:
                self._holder(run, outcome)

    async def _any_active(self) -> bool:
        try:
            return bool(await self.store.active())
        except BulkStoreError:
            return True


def _take(batches: Iterator[Batch], count: int) -> list[Batch]:
    """Up to `count` more batches (fewer: the file ended)."""
    got: list[Batch] = []
    for batch in batches:
        got.append(batch)
        if len(got) >= count:
            break
    return got
