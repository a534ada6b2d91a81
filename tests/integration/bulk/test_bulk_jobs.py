"""Bulk jobs end to end on the moto server: staged, validated, published, reported, cancelled.

The service and the worker run in-process with real boto3 clients over HTTP;
what was published is read from the pool's queue, subscribed to the outbound
topic exactly as the operator subscribes it.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime

import pytest

from session_runner.bulk.cursor import ClaimAction, Cursor
from session_runner.bulk.model import BulkInputError, BulkJob, BulkState
from session_runner.bulk.service import S3BulkService
from session_runner.bulk.store import HolderWrite, JobStore, ensure_bulk_table
from session_runner.bulk.tally import BulkTally, Outcome
from session_runner.bulk.worker import Ending
from session_runner.events.delivery import DeliveryLedger
from session_runner.events.event import Event, EventType, Source
from session_runner.events.forward import forward
from session_runner.events.publish import EventPublisher
from session_runner.sender.ledger import Ledger
from tests.integration.bulk.conftest import (
    BUCKET,
    LEDGER,
    TABLE,
    TARGET,
    BulkWorld,
    CountingUpload,
    chunks_of,
    until,
)

TEXT = "Hi {{name}}, your code is {{ code }}"

# line 1 header (after a BOM), then: row 1 line 2; row 2 lines 3-4 (a quoted newline);
# a blank line 5; row 3 line 6 (bad phone); row 4 line 7 (empty name); row 5 line 8 (too few
# fields); row 6 lines 9-10 (a quoted newline, then fine); row 7 line 11 (too many fields)
CSV = (
    "\ufeffto,name,code\r\n"
    "+14155550001,Ann,1\r\n"
    '+14155550002,"Bob\r\nJr",2\r\n'
    "\r\n"
    "4155550003,Cy,3\r\n"
    "+14155550004, ,4\r\n"
    "+14155550005,Di\r\n"
    '+14155550006,"E, ""the"" second\nline",6\r\n'
    "+14155550007,Fay,7,extra\r\n"
).encode()


async def create(world: BulkWorld, data: bytes, text: str = TEXT, **settings: object) -> BulkJob:
    service = world.service(world.settings(**settings))
    return await service.create(target=TARGET, text=text, csv_chunks=chunks_of(data, 7), url=None)


async def report(world: BulkWorld, job_id: str) -> list[list[str]]:
    body = b"".join([chunk async for chunk in world.service().error_report(job_id)])
    return list(csv.reader(io.StringIO(body.decode())))


async def test_a_csv_with_a_bom_quoted_newlines_and_bad_rows_publishes_the_good_rows_once(
    world: BulkWorld,
) -> None:
    job = await create(world, CSV)
    assert job.state is BulkState.PENDING
    assert job.id.startswith("bulk-")
    assert job.source == f"s3://{BUCKET}/uploads/{job.id}.csv"

    worker = world.worker()
    assert await worker.run_once() is Ending.DONE

    done = await world.service().get(job.id)
    assert done is not None
    assert done.state is BulkState.DONE
    assert (done.progress.total, done.progress.valid, done.progress.invalid) == (7, 3, 4)
    assert done.progress.published == 3
    messages = sorted(world.drain(), key=lambda m: m.id)
    assert [(m.id, m.target, m.to, m.text) for m in messages] == [
        (f"{job.id}:1", TARGET, "+14155550001", "Hi Ann, your code is 1"),
        (f"{job.id}:2", TARGET, "+14155550002", "Hi Bob\r\nJr, your code is 2"),
        (f"{job.id}:6", TARGET, "+14155550006", 'Hi E, "the" second\nline, your code is 6'),
    ]
    assert await report(world, job.id) == [
        ["line", "row", "column", "problem"],
        ["6", "3", "to", "not an E.164 phone number (+, then 7 to 15 digits)"],
        ["7", "4", "name", "empty (the text uses {{name}})"],
        ["8", "5", "code", "missing: the row has 2 fields, the header 3"],
        ["11", "7", "", "the row has 4 fields, the header 3"],
    ]


async def test_a_job_from_an_s3_url_reads_the_object_where_it_is(world: BulkWorld) -> None:
    s3 = world.client("s3")
    s3.put_object(Bucket=BUCKET, Key="mine/list.csv", Body=b"to,name,code\n+14155550001,A,1\n")
    job = await world.service().create(
        target=TARGET, text=TEXT, csv_chunks=None, url=f"s3://{BUCKET}/mine/list.csv"
    )
    assert job.source == f"s3://{BUCKET}/mine/list.csv"
    assert await world.worker().run_once() is Ending.DONE
    [message] = world.drain()
    assert (message.id, message.text) == (f"{job.id}:1", "Hi A, your code is 1")


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"target": "Bad Target"}, "target", "spec.target"),
        ({"text": "  "}, "text", "empty"),
        ({"text": "Hi {{nickname}}"}, "text", r"\{\{nickname\}\} is not a column"),
        ({"url": "http://example.com/x.csv"}, "url", "s3://BUCKET/KEY"),
        ({"url": "s3://other-bucket/x.csv"}, "url", "not one bulk sends may read"),
        ({"url": f"s3://{BUCKET}/missing.csv"}, "url", "no such object"),
        ({"url": f"s3://{BUCKET}/empty.csv"}, "url", "empty"),
        ({"url": f"s3://{BUCKET}/noto.csv"}, "url", "no 'to' column"),
        ({"csv": b""}, "csv", "empty"),
        ({"csv": b"\xef\xbb\xbf"}, "csv", "empty"),
        ({"csv": b"name,code\n"}, "csv", "no 'to' column"),
        ({"csv": b"to,name,code,name\n"}, "csv", "'name' appears more than once"),
        ({"csv": b"to,\xffname,code\n"}, "csv", "not UTF-8"),
        ({"csv": b"to,name,code\n", "url": f"s3://{BUCKET}/x.csv"}, "csv", "not both"),
        ({"csv": None}, "csv", "not both or none"),
    ],
)
async def test_a_request_that_cannot_become_a_job_names_its_field_and_leaves_nothing(
    world: BulkWorld, kwargs: dict[str, object], field: str, message: str
) -> None:
    s3 = world.client("s3")
    s3.put_object(Bucket=BUCKET, Key="empty.csv", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="noto.csv", Body=b"name,code\nA,1\n")
    data = kwargs.get("csv", b"to,name,code\n")
    request = {
        "target": kwargs.get("target", TARGET),
        "text": kwargs.get("text", TEXT),
        "csv_chunks": chunks_of(data) if isinstance(data, bytes) and "url" not in kwargs else None,
        "url": kwargs.get("url"),
    }
    if "csv" in kwargs and "url" in kwargs:
        request["csv_chunks"] = chunks_of(b"to\n")
    with pytest.raises(BulkInputError, match=message) as refused:
        await world.service().create(**request)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert _staged_keys(world) == []
    assert _job_items(world) == 0


async def test_a_million_column_header_is_refused_after_reading_only_the_header_cap(
    world: BulkWorld,
) -> None:
    header = b"to," + b",".join(b"c%d" % i for i in range(1_000_000)) + b"\n"
    upload = CountingUpload(header[i : i + 65536] for i in range(0, len(header), 65536))

    with pytest.raises(BulkInputError, match="longer than 65536 bytes") as refused:
        await world.service().create(target=TARGET, text="hi", csv_chunks=upload.stream(), url=None)

    assert refused.value.field == "csv"
    assert len(header) > 7_000_000
    assert upload.pulled <= 2 * 65536  # the cap and one chunk, not the 7 MB line
    assert _staged_keys(world) == []


async def test_a_header_within_the_byte_cap_but_over_the_column_cap_is_refused(
    world: BulkWorld,
) -> None:
    header = b"to," + b",".join(b"c%d" % i for i in range(1_000)) + b"\n"
    with pytest.raises(BulkInputError, match="1001 columns; at most 1000") as refused:
        await world.service().create(
            target=TARGET, text="hi", csv_chunks=chunks_of(header), url=None
        )
    assert refused.value.field == "csv"


async def test_an_oversized_upload_is_refused_and_its_multipart_upload_aborted(
    world: BulkWorld,
) -> None:
    row = b"+14155550001,A,1\n"
    body = b"to,name,code\n" + row * (7 * 1024 * 1024 // len(row))
    upload = CountingUpload(body[i : i + (1 << 20)] for i in range(0, len(body), 1 << 20))
    service = world.service(world.settings(max_file_bytes=6 * 1024 * 1024))

    with pytest.raises(BulkInputError, match="larger than 6291456 bytes") as refused:
        await service.create(target=TARGET, text=TEXT, csv_chunks=upload.stream(), url=None)

    assert refused.value.field == "csv"
    s3 = world.client("s3")
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert _staged_keys(world) == []
    assert _job_items(world) == 0


async def test_an_upload_larger_than_a_part_goes_up_in_parts_and_reads_back_whole(
    world: BulkWorld,
) -> None:
    rows = [f"+1415{n:07d},N{n},{n}\n".encode() for n in range(400_000)]
    body = b"to,name,code\n" + b"".join(rows)
    settings = world.settings(upload_part_bytes=5 * 1024 * 1024)
    job = await world.service(settings).create(
        target=TARGET, text=TEXT, csv_chunks=chunks_of(body, 64 * 1024), url=None
    )
    head = world.client("s3").head_object(Bucket=BUCKET, Key=f"uploads/{job.id}.csv")
    assert head["ContentLength"] == len(body) > 10 * 1024 * 1024
    assert head["ETag"].endswith('-3"')  # three parts


async def test_cancel_stops_a_running_job_and_is_idempotent(world: BulkWorld) -> None:
    body = b"to,name,code\n" + b"".join(f"+1415{n:07d},N{n},{n}\n".encode() for n in range(3_000))
    settings = world.settings(cursor_every_batches=2, publish_concurrency=1)
    job = await world.service(settings).create(
        target=TARGET, text=TEXT, csv_chunks=chunks_of(body, 65536), url=None
    )
    worker = world.worker(settings)
    running = asyncio.create_task(worker.run_once())
    service = world.service(settings)
    await until(lambda: _published_at_least(service, job.id, 1))

    cancelled = await service.cancel(job.id)
    assert cancelled is not None
    assert cancelled.state is BulkState.CANCELLED
    assert await running is Ending.CANCELLED
    final = await service.get(job.id)
    assert final is not None
    assert final.state is BulkState.CANCELLED
    assert 0 < final.progress.published < 3_000
    assert len({m.id for m in world.drain()}) < 3_000
    again = await service.cancel(job.id)
    assert again is not None
    assert again.state is BulkState.CANCELLED
    assert await world.worker(settings).run_once() is None  # nothing to claim


async def test_cancel_of_a_pending_job_a_done_job_and_no_job(world: BulkWorld) -> None:
    service = world.service()
    pending = await create(world, b"to,name,code\n+14155550001,A,1\n")
    done = await create(world, b"to,name,code\n+14155550001,A,1\n")
    assert (await service.cancel(pending.id)).state is BulkState.CANCELLED  # type: ignore[union-attr]
    assert await world.worker().run_once() is Ending.DONE  # only the other one
    assert (await service.cancel(done.id)).state is BulkState.DONE  # type: ignore[union-attr]
    assert await service.cancel("bulk-000000000000") is None
    assert await service.cancel("../etc") is None
    assert await service.get("bulk-000000000000") is None


async def test_a_stopped_worker_leaves_the_cursor_and_its_successor_finishes_exactly(
    world: BulkWorld,
) -> None:
    rows = [f"+1415{n:07d},N{n},{n}\n" for n in range(300)]
    rows[10] = "bad,N,1\n"
    body = ("to,name,code\n" + "".join(rows)).encode()
    settings = world.settings(cursor_every_batches=1, publish_concurrency=2)
    job = await world.service(settings).create(
        target=TARGET, text=TEXT, csv_chunks=chunks_of(body, 65536), url=None
    )
    stop = asyncio.Event()
    first = world.worker(settings, identity="first")
    running = asyncio.create_task(first.run(stop))
    service = world.service(settings)
    await until(lambda: _published_at_least(service, job.id, 50), every_s=0.02)
    stop.set()
    await running
    paused = await service.get(job.id)
    assert paused is not None
    assert paused.state is BulkState.RUNNING
    assert 50 <= paused.progress.published < 299

    second = world.worker(settings, identity="second")
    assert await second.run_once() is Ending.DONE  # released: no wait for the lock
    final = await service.get(job.id)
    assert final is not None
    assert (final.progress.total, final.progress.valid, final.progress.invalid) == (300, 299, 1)
    assert final.progress.published == 299
    ids = {m.id for m in world.drain()}
    assert ids == {f"{job.id}:{row}" for row in range(1, 301) if row != 11}
    assert await report(world, job.id) == [
        ["line", "row", "column", "problem"],
        ["12", "11", "to", "not an E.164 phone number (+, then 7 to 15 digits)"],
    ]


async def test_a_csv_replaced_after_the_job_was_created_fails_the_job(world: BulkWorld) -> None:
    job = await create(world, b"to,name,code\n+14155550001,A,1\n")
    world.client("s3").put_object(
        Bucket=BUCKET, Key=f"uploads/{job.id}.csv", Body=b"to,name,code\n+14155559999,Z,9\n"
    )
    assert await world.worker().run_once() is Ending.FAILED
    failed = await world.service().get(job.id)
    assert failed is not None
    assert failed.state is BulkState.FAILED
    assert failed.error == "the CSV in S3 was replaced after the job was created"
    assert world.drain() == []


async def test_the_error_report_streams_every_page_in_row_order(world: BulkWorld) -> None:
    body = b"to,name,code\n" + b"".join(b"bad%d,N,1\n" % n for n in range(1_234))
    job = await create(world, body)
    assert await world.worker().run_once() is Ending.DONE
    lines = await report(world, job.id)
    assert len(lines) == 1 + 1_234
    assert [int(line[1]) for line in lines[1:]] == list(range(1, 1_235))
    assert [int(line[0]) for line in lines[1:]] == list(range(2, 1_236))
    done = await world.service().get(job.id)
    assert done is not None
    assert (done.progress.valid, done.progress.invalid, done.progress.published) == (0, 1234, 0)


async def test_an_empty_data_section_is_done_with_a_total_of_zero(world: BulkWorld) -> None:
    job = await create(world, b"\xef\xbb\xbfto,name,code\r\n\r\n")
    assert await world.worker().run_once() is Ending.DONE
    done = await world.service().get(job.id)
    assert done is not None
    assert (done.state, done.progress.total) == (BulkState.DONE, 0)


async def test_the_tally_counts_each_rows_outcome_once(world: BulkWorld) -> None:
    job = await create(world, b"to,name,code\n+14155550001,A,1\n+14155550002,B,2\n")
    tally = BulkTally(world.client("dynamodb"), LEDGER)

    assert await tally.record(f"{job.id}:1", Outcome.SENT) is True
    assert await tally.record(f"{job.id}:1", "sent") is False  # again: not counted
    assert await tally.record(f"{job.id}:2", Outcome.SENT) is True
    assert await tally.record(f"{job.id}:1", Outcome.DELIVERED) is True
    assert await tally.record(f"{job.id}:1", Outcome.READ) is True
    assert await tally.record(f"{job.id}:2", Outcome.FAILED) is True
    assert await tally.record("wf-0123", Outcome.SENT) is False  # not a bulk row

    seen = await world.service().get(job.id)
    assert seen is not None
    progress = seen.progress
    assert (progress.sent, progress.delivered, progress.read, progress.failed) == (2, 1, 1, 1)


async def test_a_deposed_holder_can_neither_move_the_cursor_nor_finish(world: BulkWorld) -> None:
    """A worker that stalled past its lock and was replaced: its writes are refused (fence)."""
    job = await create(world, b"to,name,code\n+14155550001,A,1\n")
    now = [1_000.0]
    store = JobStore(world.client("dynamodb"), TABLE, clock=lambda: now[0])
    first, held = await store.claim(job.id, "first", 5.0)
    assert first.action is ClaimAction.CLAIM
    assert held is not None
    busy, _ = await store.claim(job.id, "second", 5.0)
    assert busy.action is ClaimAction.BUSY

    now[0] += 5.0  # the first's lock ran out without a heartbeat
    second, taken = await store.claim(job.id, "second", 5.0)
    assert second.action is ClaimAction.CLAIM
    assert taken is not None
    assert taken.lock.fence == held.lock.fence + 1

    moved = Cursor(offset=999, row=2, line=3, valid=1, invalid=0)
    assert await store.write_cursor(job.id, held.lock, moved) is HolderWrite.LOST
    assert (await store.heartbeat(job.id, held.lock, 5.0))[0] is HolderWrite.LOST
    assert await store.finish(job.id, held.lock, moved) is HolderWrite.LOST
    assert await store.write_cursor(job.id, taken.lock, moved) is HolderWrite.OK
    stored = await store.get(job.id)
    assert stored is not None
    assert (stored.state, stored.cursor, stored.lock.owner) == (BulkState.RUNNING, moved, "second")
    await store.cancel(job.id)
    assert await store.write_cursor(job.id, taken.lock, moved) is HolderWrite.CANCELLED


def test_the_table_can_be_ensured_twice(world: BulkWorld) -> None:
    ensure_bulk_table(world.client("dynamodb"), TABLE)


async def _published_at_least(service: S3BulkService, job_id: str, count: int) -> bool:
    seen = await service.get(job_id)
    return seen is None or seen.progress.published >= count


def _staged_keys(world: BulkWorld) -> list[str]:
    listing = world.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="uploads/")
    return [str(item["Key"]) for item in listing.get("Contents", [])]


def _job_items(world: BulkWorld) -> int:
    return int(world.client("dynamodb").scan(TableName=TABLE, Select="COUNT")["Count"])


async def test_fifty_thousand_rows_are_read_in_bounded_memory_and_counted_exactly(
    world: BulkWorld,
) -> None:
    """By design, not by timing or RSS: the reader never holds more than one chunk plus one
    record (its peak is measured in bytes held), against a file 70 times that size."""
    rows = [f"+1415{n:07d},Name {n},{n}\n" for n in range(50_000)]
    for bad in (7, 25_000, 49_999):
        rows[bad] = f"+1,Name {bad},{bad}\n"
    body = ("to,name,code\n" + "".join(rows)).encode()
    settings = world.settings(read_chunk_bytes=16 * 1024, max_record_bytes=4 * 1024)
    # a target no queue subscribes to: the topic takes the messages, SNS's filter drops them
    job = await world.service(settings).create(
        target="nobody", text=TEXT, csv_chunks=chunks_of(body, 64 * 1024), url=None
    )
    worker = world.worker(settings)

    assert await worker.run_once() is Ending.DONE

    bound = settings.read_chunk_bytes + settings.max_record_bytes
    assert 0 < worker.stats.peak_buffered_bytes <= bound
    assert len(body) > 70 * bound
    done = await world.service().get(job.id)
    assert done is not None
    progress = done.progress
    assert (progress.total, progress.valid, progress.invalid) == (50_000, 49_997, 3)
    assert progress.published == worker.stats.published == 49_997
    assert [line[:2] for line in (await report(world, job.id))[1:]] == [
        ["9", "8"],
        ["25002", "25001"],
        ["50001", "50000"],
    ]


async def test_forwarded_statuses_count_a_rows_delivered_and_read_once(world: BulkWorld) -> None:
    """The statuses' path (`events.forward`, as the ingest and the runners run it) tallies
    what each status implies; a status seen again counts nothing."""
    job = await create(world, b"to,name,code\n+14155550001,A,1\n+14155550002,B,2\n")
    deliveries = DeliveryLedger(world.client("dynamodb"), LEDGER)
    publisher = EventPublisher(world.client("sns"), world.topic_arn)
    ledger = Ledger(world.client("dynamodb"), LEDGER)
    for row in (1, 2):  # what the sender wrote: statuses move only messages the ledger knows
        await ledger.claim(f"{job.id}:{row}", "sender", 30.0)
        await ledger.record_sent(f"{job.id}:{row}", "sender", f"SM{row:032d}")

    def status(kind: EventType, row: int) -> Event:
        return Event.create(
            type=kind,
            source=Source.TWILIO,
            vendor_message_id=f"SM{row:032d}",
            at=datetime(2026, 12, 6, tzinfo=UTC),
            namespace="default",
            pool=TARGET,
            message_id=f"{job.id}:{row}",
        )

    await forward([status(EventType.READ, 1), status(EventType.FAILED, 2)], deliveries, publisher)
    await forward([status(EventType.READ, 1)], deliveries, publisher)  # a repeated webhook
    seen = await world.service().get(job.id)
    assert seen is not None
    progress = seen.progress
    assert (progress.sent, progress.delivered, progress.read, progress.failed) == (1, 1, 1, 1)


async def test_the_worker_process_serves_what_it_published_as_metrics(
    world: BulkWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bulk.main.run` as `wafleet-runner bulk-worker` runs it, with its metrics port."""
    import aiohttp

    from session_runner.bulk import main as bulk_main
    from tests.harness.control_plane.processes import free_port
    from tests.harness.devserver import DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEV_ACCESS_KEY_ID)  # as the pod's environment
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEV_SECRET_ACCESS_KEY)

    port = free_port()
    settings = world.settings(exit_when_idle=False, metrics_port=port)
    await create(world, CSV)
    stop = asyncio.Event()
    running = asyncio.create_task(bulk_main.run(settings, stop))

    async def published() -> float:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics") as answer,
        ):
            for line in (await answer.text()).splitlines():
                if line.startswith("wafleet_bulk_rows_published_total "):
                    return float(line.split()[1])
        return -1.0

    async def three_published() -> bool:
        try:
            return await published() == 3
        except aiohttp.ClientError:  # not listening yet
            return False

    try:
        await until(three_published)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
