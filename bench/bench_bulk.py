"""`make bench ONLY=bulk`: how fast one bulk worker publishes a big CSV, and what memory it holds.

The real `wafleet-runner bulk-worker` process (its WAFLEET_BULK_* environment,
`exit_when_idle`, defaults otherwise: `publish_concurrency` 4) against S3,
DynamoDB and SNS on one moto server, started here. The CSV (header `to,name`,
WAFLEET_BENCH_BULK_ROWS rows, six bad rows spread through it: three without
the `+` of E.164, three with an empty name) is written to a temporary file and
put into S3 once; each run records a job on that object through the bulk
service (`create` with its `s3://` URL: a header check, no copy), so staging
is outside every measurement. Metrics (issue 17, point 4):

- bulk_ingest_ratio: rows/s of the worker, from its claim of the job to the
  job DONE (both instants from the worker's own log lines; the job is checked
  after: DONE, `progress.published` = the valid rows, `invalid` = the bad
  ones), / rows/s of a bare SNS PublishBatch loop in this process, publishing
  the same valid rows: 10 entries a call, entries built by the worker's own
  `batches.publish_entries` (same bodies, same target attribute), with the
  worker's SNS client configuration (`bulk.main.clients`) and as many threads
  as the worker's `publish_concurrency`. Goal >= 0.8. Medians of RUNS runs,
  the order of the two alternating from run to run.
- bulk_peak_rss_mb: the worker process's peak RSS over the whole job (the
  kernel's high-water mark, `ru_maxrss` from wait4 when it exits: what VmHWM
  in /proc/PID/status says at its last instant). Baseline: the peak RSS of the
  same command with the same environment started on an empty jobs table
  (start-up, topic resolved, one look for jobs, exit: the process idle).
  Goal <= 150.

Nothing is subscribed to the topics. moto's PublishBatch on a topic with no
subscribers only appends to a list, while an SQS queue subscribed to it
would make every publish pay for moto's SQS, whose cost grows with the
queue's length (it scans the queue on every call): a moto artifact, not SNS's
cost and not the worker's. Each run publishes to a topic of its own, deleted
after the run, so moto's memory does not grow from run to run.

Sizes: WAFLEET_BENCH_BULK_ROWS (500,000), WAFLEET_BENCH_BULK_RUNS (1).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import boto3

from bench.result import BenchResult, median
from session_runner.bulk.batches import PUBLISH_BATCH_SIZE, Batch, failed_entries, publish_entries
from session_runner.bulk.cursor import Cursor
from session_runner.bulk.main import clients
from session_runner.bulk.model import BulkState
from session_runner.bulk.rows import ValidRow
from session_runner.bulk.service import S3BulkService
from session_runner.bulk.store import JobStore, ensure_bulk_table
from session_runner.bulk.template import compile_template
from session_runner.contract.bulk_settings import BulkSettings
from session_runner.dynamodb import client_config
from session_runner.sender.ledger import ensure_table
from tests.harness.devserver import (
    DEV_ACCESS_KEY_ID,
    DEV_REGION,
    DEV_SECRET_ACCESS_KEY,
    MotoServer,
)

ROWS = int(os.environ.get("WAFLEET_BENCH_BULK_ROWS", "500000"))
RUNS = int(os.environ.get("WAFLEET_BENCH_BULK_RUNS", "1"))
TARGET: Final = "bench-pool"
TEXT: Final = "Hi {{name}}, your order is ready for pick-up at the Market Street store."
BUCKET: Final = "wafleet-bench-bulk"
KEY: Final = "staged/recipients.csv"
TABLE: Final = "wafleet-bench-bulk-jobs"
IDLE_TABLE: Final = "wafleet-bench-bulk-idle"
LEDGER: Final = "wafleet-bench-bulk-ledger"
BAD_ROWS: Final = 6
#: A safety limit for one worker's job (a hang must not hold `make bench` forever).
JOB_LIMIT_S: Final = 3600.0
PROGRESS_EVERY_S: Final = 15.0


def _log(text: str) -> None:
    print(f"# bulk: {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- the CSV


def recipient(row: int) -> str:
    return f"+1415{row:07d}"


def name_of(row: int) -> str:
    return f"Customer{row}"


def bad_rows(rows: int) -> dict[int, str]:
    """Row → what is wrong with it: BAD_ROWS rows spread evenly, alternately a phone without
    its `+` and an empty name."""
    return {
        rows * k // (BAD_ROWS + 1): ("phone" if k % 2 else "name") for k in range(1, BAD_ROWS + 1)
    }


def write_csv(path: Path, rows: int) -> int:
    """The CSV of `rows` rows at `path`; the number of valid rows."""
    bad = bad_rows(rows)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("to,name\r\n")
        for row in range(1, rows + 1):
            to, name = recipient(row), name_of(row)
            if bad.get(row) == "phone":
                to = to[1:]
            elif bad.get(row) == "name":
                name = ""
            out.write(f"{to},{name}\r\n")
    return rows - len(bad)


def valid_batches(job_id: str, rows: int) -> Iterator[list[dict[str, Any]]]:
    """The PublishBatch entries the worker makes of the CSV, 10 valid rows a call."""
    template = compile_template(TEXT)
    bad = bad_rows(rows)
    end = Cursor(offset=0, row=1, line=2)  # not published: a Batch needs one
    valid = (
        (row, ValidRow(recipient(row), template.render({"name": name_of(row)})))
        for row in range(1, rows + 1)
        if row not in bad
    )
    while chunk := tuple(itertools.islice(valid, PUBLISH_BATCH_SIZE)):
        yield publish_entries(job_id, TARGET, Batch(chunk, (), end))


# ---------------------------------------------------------------------- the bare loop


def bare_rate(settings: BulkSettings, rows: int) -> float:
    """Rows/s of PublishBatch calls alone: `publish_concurrency` threads sharing one SNS client
    built as the worker builds its own, each taking the next 10 entries and publishing them."""
    _, _, sns = clients(settings)
    sns_client: Any = sns
    batches = valid_batches("bulk-000000000000", rows)
    lock = threading.Lock()
    published = 0
    errors: list[str] = []

    def publish() -> None:
        nonlocal published
        while not errors:
            with lock:
                entries = next(batches, None)
            if entries is None:
                return
            answer = sns_client.publish_batch(
                TopicArn=settings.topic_arn, PublishBatchRequestEntries=entries
            )
            if failed_entries(entries, answer):
                errors.append(f"PublishBatch refused entries: {answer.get('Failed')}")
            with lock:
                published += len(entries)

    threads = [threading.Thread(target=publish) for _ in range(settings.publish_concurrency)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    if errors:
        raise RuntimeError(errors[0])
    _log(f"bare PublishBatch loop: {published} rows in {elapsed:.1f} s")
    return published / elapsed


# ---------------------------------------------------------------------- the worker


def worker_env(settings: BulkSettings) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": DEV_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEV_SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": DEV_REGION,
        **settings.as_env(),
    }


def worker_command() -> list[str]:
    return [str(Path(sys.executable).with_name("wafleet-runner")), "bulk-worker"]


def reap(process: subprocess.Popen[bytes], limit_s: float, tick: Any = None) -> tuple[int, float]:
    """Wait for `process` (calling `tick()` every PROGRESS_EVERY_S); (exit code, peak RSS MB)
    from wait4's resource usage. Killed after `limit_s`."""
    deadline = time.monotonic() + limit_s
    next_tick = time.monotonic() + PROGRESS_EVERY_S
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            process.returncode = code  # reaped here: Popen must not wait for it again
            return code, usage.ru_maxrss / 1024  # Linux: kilobytes
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"the bulk worker did not finish within {limit_s:.0f} s")
        if tick is not None and time.monotonic() >= next_tick:
            tick()
            next_tick = time.monotonic() + PROGRESS_EVERY_S
        time.sleep(0.1)


def log_records(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records


def logged_at(records: list[dict[str, Any]], needle: str, log: Path) -> float:
    """The epoch seconds of the first log line whose event contains `needle`."""
    for record in records:
        if needle in str(record.get("event", "")):
            return datetime.fromisoformat(str(record["timestamp"])).timestamp()
    raise RuntimeError(f"the bulk worker never logged {needle!r} (its log: {log})")


def idle_rss(settings: BulkSettings, folder: Path) -> float:
    """Peak RSS (MB) of the worker command on an empty jobs table: start-up, one look, exit."""
    idle = settings.model_copy(update={"table": IDLE_TABLE, "pod_name": "bench-idle"})
    log = folder / "idle-worker.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            worker_command(), env=worker_env(idle), stdout=sink, stderr=subprocess.STDOUT
        )
        code, peak = reap(process, 120.0)
    if code != 0:
        raise RuntimeError(f"the idle bulk worker exited with {code} (its log: {log})")
    return peak


def worker_run(
    settings: BulkSettings, moto: MotoServer, folder: Path, run: int, valid: int
) -> tuple[float, float]:
    """(rows/s from claim to DONE, peak RSS MB) of one worker process over one job."""
    dynamodb = boto3.client("dynamodb", config=client_config(5.0), **moto.client_kwargs())
    service = S3BulkService(settings, boto3.client("s3", **moto.client_kwargs()), dynamodb)
    job = asyncio.run(
        service.create(target=TARGET, text=TEXT, csv_chunks=None, url=f"s3://{BUCKET}/{KEY}")
    )
    store = JobStore(dynamodb, settings.table)
    log = folder / f"worker-{run}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            worker_command(),
            env=worker_env(settings.model_copy(update={"pod_name": f"bench-{run}"})),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )

        def progress() -> None:
            stored = asyncio.run(store.get(job.id))
            if stored is not None:
                _log(f"worker: {stored.state.value}, {stored.cursor.valid} rows published")

        code, peak = reap(process, JOB_LIMIT_S, progress)
    if code != 0:
        raise RuntimeError(f"the bulk worker exited with {code} (its log: {log})")
    done = asyncio.run(store.get(job.id))
    if done is None or done.state is not BulkState.DONE:
        raise RuntimeError(f"job {job.id} is not DONE after the worker exited (its log: {log})")
    progress_now = done.to_model().progress
    if progress_now.published != valid or progress_now.invalid != ROWS - valid:
        raise RuntimeError(
            f"job {job.id}: published {progress_now.published} of {valid} valid rows, "
            f"{progress_now.invalid} invalid of {ROWS - valid} (its log: {log})"
        )
    records = log_records(log)
    claimed = logged_at(records, "claimed by", log)
    finished = logged_at(records, ": DONE", log)
    stats = [r["event"] for r in records if "stopped:" in str(r.get("event", ""))]
    if stats:
        _log(str(stats[-1]))
    elapsed = finished - claimed
    _log(
        f"worker: {valid} rows published in {elapsed:.1f} s (claim to DONE), peak RSS {peak:.0f} MB"
    )
    return valid / elapsed, peak


# ---------------------------------------------------------------------- the world


def settings_for(moto: MotoServer, topic_arn: str) -> BulkSettings:
    return BulkSettings(
        table=TABLE,
        ledger_table=LEDGER,
        bucket=BUCKET,
        topic_arn=topic_arn,
        aws_endpoint_url=moto.endpoint_url,
        aws_region=DEV_REGION,
        exit_when_idle=True,
        log_level="info",
    )


@contextlib.contextmanager
def topic(moto: MotoServer, name: str) -> Iterator[str]:
    """A fresh topic with no subscribers, deleted after (moto keeps what was published on it)."""
    sns = boto3.client("sns", **moto.client_kwargs())
    arn = str(sns.create_topic(Name=name)["TopicArn"])
    try:
        yield arn
    finally:
        sns.delete_topic(TopicArn=arn)


def prepare(moto: MotoServer, folder: Path) -> int:
    """Bucket, tables and the staged CSV; the number of valid rows."""
    kwargs = moto.client_kwargs()
    s3 = boto3.client("s3", **kwargs)
    dynamodb = boto3.client("dynamodb", **kwargs)
    s3.create_bucket(Bucket=BUCKET)
    for table in (TABLE, IDLE_TABLE):
        ensure_bulk_table(dynamodb, table)
    ensure_table(dynamodb, LEDGER)
    csv_path = folder / "recipients.csv"
    began = time.monotonic()
    valid = write_csv(csv_path, ROWS)
    with csv_path.open("rb") as body:
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    size = csv_path.stat().st_size
    csv_path.unlink()
    _log(
        f"staged {ROWS} rows ({valid} valid, {size / 1e6:.1f} MB) in "
        f"{time.monotonic() - began:.1f} s (not measured)"
    )
    return valid


def run() -> list[BenchResult]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", DEV_ACCESS_KEY_ID)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", DEV_SECRET_ACCESS_KEY)
    worker_rates: list[float] = []
    bare_rates: list[float] = []
    peaks: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="wafleet-bench-bulk-") as tmp,
        MotoServer() as moto,
    ):
        folder = Path(tmp)
        valid = prepare(moto, folder)
        with topic(moto, "bench-bulk-idle") as arn:
            idle = idle_rss(settings_for(moto, arn), folder)
        _log(f"idle worker: peak RSS {idle:.0f} MB")
        for run in range(RUNS):
            order = ("bare", "worker") if run % 2 == 0 else ("worker", "bare")
            for side in order:
                with topic(moto, f"bench-bulk-{side}-{run}") as arn:
                    settings = settings_for(moto, arn)
                    if side == "bare":
                        bare_rates.append(bare_rate(settings, ROWS))
                    else:
                        rate, peak = worker_run(settings, moto, folder, run, valid)
                        worker_rates.append(rate)
                        peaks.append(peak)
            _log(
                f"run {run + 1}/{RUNS}: worker {worker_rates[-1]:.0f} rows/s, bare "
                f"{bare_rates[-1]:.0f} rows/s ({worker_rates[-1] / bare_rates[-1]:.2f}), "
                f"peak RSS {peaks[-1]:.0f} MB"
            )
    return [
        BenchResult(
            "bulk",
            "bulk_ingest_ratio",
            round(median(worker_rates), 1),
            "rows/s",
            round(median(bare_rates), 1),
            "ratio >= 0.8",
        ),
        BenchResult(
            "bulk",
            "bulk_peak_rss_mb",
            round(median(peaks), 1),
            "MB",
            round(idle, 1),
            "<= 150",
        ),
    ]
