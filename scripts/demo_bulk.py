"""The demo's bulk part: a 10,000-row CSV with a few bad rows, sent with `wafleet bulk` through
the demo account's own session, followed to the end of publishing, and its per-row report.

It runs inside the control-plane demo (`scripts/demo_local.py`), late: after the
deleted pod was replaced and restored, before the account is suspended. The
session pool sends at its spec.rateLimitPerSecond (0.5/s in the sample), so
nearly all of the 9,995 messages are still waiting in the pool's queue when the
demo moves on; the steps that roll, delete and restore the account's pod run
before this part, so they never see that queue. Suspending the account with it
full is fine (the runner holds one message at a time, concurrency 1); the queue
keeps the rest. After suspend nothing would be sent at all, so the sent count
would not move: that is why this part is not last.

Here: the CSV is written (distinct E.164 numbers, and five bad rows: a number
that is not E.164, an empty one, an empty name, a row with too many fields and
one with too few), the staging bucket and the jobs table are made on moto,
`wafleet-runner bulk-worker` runs as a local process (as the chart deploys it),
and the real CLI runs directly on AWS credentials, as a person would:
`wafleet bulk demo-bulk.csv --pool demo-session --text ... --follow`, then
`wafleet bulk errors ID` and `wafleet bulk show ID`. The part fails when the job
is not DONE with every valid row published and exactly the bad rows invalid, or
the report does not name each bad row with its line and column.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import boto3
import yaml
from rich.console import Console
from rich.markup import escape

from session_runner.bulk.ids import JOB_ID_PATTERN
from session_runner.bulk.model import BulkJob, BulkState
from session_runner.bulk.service import REPORT_COLUMNS, S3BulkService
from session_runner.bulk.store import ensure_bulk_table
from session_runner.contract.bulk_settings import BulkSettings
from session_runner.dynamodb import client_config
from tests.harness.devserver import MotoServer

REPO: Final = Path(__file__).resolve().parents[1]
SESSION_POOL: Final = REPO / "samples" / "valid" / "senderpool-session.yaml"
ROWS: Final = 10_000
TEXT: Final = "Hello {{name}}, your order shipped"
CSV_NAME: Final = "demo-bulk.csv"
BUCKET: Final = "wafleet-demo-bulk"
TABLE: Final = "wafleet-bulk-jobs"
#: The operator's outbound topic and ledger table (its defaults, which the demo keeps).
TOPIC: Final = "wafleet-outbound"
LEDGER_TABLE: Final = "wafleet-outbound-ledger"
REGION: Final = "us-east-1"
AWS_ENV: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
#: How long `wafleet bulk --follow` may take: publishing 10,000 rows to moto takes well
#: under a minute; this only keeps a stuck demo from hanging.
FOLLOW_TIMEOUT_S: Final = 300
NAMES: Final = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken")
_CREATED = re.compile(rf"^({JOB_ID_PATTERN}): ", re.MULTILINE)


@dataclass(frozen=True)
class BadRow:
    """A row the demo spoils on purpose, and what the report must say of it."""

    row: int  # the data row, from 1
    content: str  # the CSV line written in its place
    column: str  # the column the report names ("" for the row as a whole)
    problem: str  # how the report's problem starts
    why: str  # what is wrong, for the demo's own line

    @property
    def line(self) -> int:
        """The file's line: the header is line 1 and no record here spans lines."""
        return self.row + 1


BAD_ROWS: Final = (
    BadRow(17, "0155501234,Ada", "to", "not an E.164 phone number", "a number without +"),
    BadRow(2024, "+12025552024,", "name", "empty", "no name"),
    BadRow(4711, "+12025554711,Grace,Hopper", "", "the row has 3 fields", "3 fields"),
    BadRow(7777, ",Linus", "to", "empty", "no number"),
    BadRow(9999, "+12025559999", "name", "missing", "1 field"),
)


def recipient(row: int) -> str:
    """Row `row`'s number: distinct for every row, E.164 (+1 202 555 0001 ...)."""
    return f"+1202{5_550_000 + row}"


def csv_text(rows: int, bad: Sequence[BadRow]) -> str:
    """The demo's CSV: the header `to,name` and `rows` data rows, the `bad` ones spoiled."""
    spoiled = {b.row: b.content for b in bad}
    lines = ["to,name"]
    for row in range(1, rows + 1):
        lines.append(spoiled.get(row, f"{recipient(row)},{NAMES[row % len(NAMES)]}"))
    return "\n".join(lines) + "\n"


def job_problems(job: BulkJob, rows: int, bad: int) -> list[str]:
    """What is wrong with the job once `--follow` returned: it must be DONE, every valid row
    published, exactly the bad rows invalid. Empty when it is right."""
    problems: list[str] = []
    if job.state is not BulkState.DONE:
        problems.append(f"state {job.state.value}, not done" + (f" ({job.error})" if job.error else ""))
    wanted = {"total": rows, "valid": rows - bad, "invalid": bad, "published": rows - bad}
    for name, value in wanted.items():
        got = getattr(job.progress, name)
        if got != value:
            problems.append(f"{name} {got}, not {value}")
    return problems


def report_problems(report: str, bad: Sequence[BadRow]) -> list[str]:
    """What is wrong with `wafleet bulk errors`' CSV: each bad row once, with its line, row,
    column and problem, and no other row. Empty when it is right."""
    records = list(csv.reader(io.StringIO(report)))
    if not records or tuple(records[0]) != REPORT_COLUMNS:
        return [f"the report's header is not {','.join(REPORT_COLUMNS)}"]
    got: dict[tuple[str, str, str], str] = {}
    problems: list[str] = []
    for record in records[1:]:
        if len(record) != len(REPORT_COLUMNS):
            problems.append(f"a report line with {len(record)} fields")
            continue
        got[(record[0], record[1], record[2])] = record[3]
    for row in bad:
        key = (str(row.line), str(row.row), row.column)
        problem = got.pop(key, None)
        if problem is None:
            problems.append(f"line {row.line} (row {row.row}, column {row.column!r}) not reported")
        elif not problem.startswith(row.problem):
            problems.append(f"line {row.line}: {problem!r}, not {row.problem!r}...")
    problems += [f"line {line} reported, but it is a good row" for line, _, _ in got]
    return problems


def session_pool() -> dict[str, Any]:
    """The demo's session pool, as the outbound part applies it (scripts/demo_outbound.py)."""
    doc: dict[str, Any] = yaml.safe_load(SESSION_POOL.read_text(encoding="utf-8"))
    return doc


class Bulk:
    """The part's setup (`start`: the CSV, the bucket, the table, the worker), its show and
    its teardown (`stop`, in the demo's `finally`)."""

    def __init__(
        self, console: Console, moto: MotoServer, env: dict[str, str], workdir: Path
    ) -> None:
        self.console = console
        self.moto = moto
        self.workdir = workdir
        self.csv = workdir / CSV_NAME
        self.log = workdir / "bulk-worker.log"
        self.worker: subprocess.Popen[bytes] | None = None
        self.settings = BulkSettings(
            table=TABLE,
            bucket=BUCKET,
            topic_arn=TOPIC,
            ledger_table=LEDGER_TABLE,
            aws_endpoint_url=moto.endpoint_url,
            aws_region=REGION,
            pod_name="demo-bulk-worker",
            poll_seconds=0.5,
            log_level="warning",
        )
        #: What `wafleet bulk` is given, as a person would export it: AWS (moto here), the
        #: kubeconfig (to look up the pool's target), the staging bucket and the jobs table.
        self.cli_env = {
            **env,
            **AWS_ENV,
            "AWS_ENDPOINT_URL": moto.endpoint_url,
            "WAFLEET_BULK_BUCKET": BUCKET,
            "WAFLEET_BULK_TABLE": TABLE,
            "COLUMNS": "120",  # the progress bar's width when its output is not a terminal
        }
        self.env = env

    def say(self, command: str, output: str) -> None:
        self.console.print(f"  $ {escape(command)}", soft_wrap=True)
        for line in output.splitlines():
            self.console.print("    " + escape(line), soft_wrap=True)

    def start(self) -> None:
        """The CSV, the staging bucket and the jobs table on moto, the bulk worker."""
        self.console.print(
            "\n  [bold]Bulk[/]: a CSV of recipients, one templated text, one message per row,"
            " each sent exactly once"
        )
        self.csv.write_text(csv_text(ROWS, BAD_ROWS), encoding="utf-8")
        spoiled = ", ".join(f"line {b.line} ({b.why})" for b in BAD_ROWS)
        self.console.print(
            f"  wrote {CSV_NAME}: to,name and {ROWS:,} rows with distinct E.164 numbers,"
            f" {self.csv.stat().st_size:,} bytes; {len(BAD_ROWS)} bad rows: {spoiled}"
        )
        boto3.client("s3", **self.moto.client_kwargs()).create_bucket(Bucket=BUCKET)
        ensure_bulk_table(boto3.client("dynamodb", **self.moto.client_kwargs()), TABLE)
        runner = str(Path(sys.executable).with_name("wafleet-runner"))
        with self.log.open("wb") as log:
            self.worker = subprocess.Popen(
                [runner, "bulk-worker"],
                env={**self.env, **AWS_ENV, **self.settings.as_env()},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.console.print(
            f"  the staging bucket {BUCKET} and the jobs table {TABLE} on moto;"
            " wafleet-runner bulk-worker runs (the chart deploys it with bulk.worker.enabled),"
            f" publishing to the outbound topic {TOPIC}"
        )

    def wafleet(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).with_name("wafleet")), *args],
            env=self.cli_env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def show(self) -> bool:
        """Send the CSV through the session pool; True when the job and its report are right."""
        pool = session_pool()
        name, rate = pool["metadata"]["name"], pool["spec"]["rateLimitPerSecond"]
        self.console.print(
            f"  $ export WAFLEET_BULK_BUCKET={BUCKET} WAFLEET_BULK_TABLE={TABLE}"
            "   (directly on AWS credentials; with --api URL the HTTP API does the same)"
        )
        args = [CSV_NAME, "--pool", name, "--text", TEXT, "--follow"]
        command = "wafleet bulk " + shlex.join(args)
        started = time.monotonic()
        try:
            done = self.wafleet(*args, timeout=FOLLOW_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.say(command, f"(still following after {FOLLOW_TIMEOUT_S} s: stopped)")
            return self.failed([f"not done after {FOLLOW_TIMEOUT_S} s"])
        took = time.monotonic() - started
        # stdout: the job's line when created and when done; stderr: the bar's end state.
        created, _, finished = done.stdout.strip().partition("\n")
        self.say(
            command, "\n".join(x for x in (created, done.stderr.strip(), finished) if x)
        )
        found = _CREATED.search(done.stdout)
        if found is None:
            return self.failed([f"no job was created (exit {done.returncode})"])
        job_id = found.group(1)
        job = asyncio.run(self.service().get(job_id))
        if job is None:
            return self.failed([f"no job {job_id} in {TABLE}"])
        problems = job_problems(job, ROWS, len(BAD_ROWS))
        progress = job.progress
        seconds = (job.updated_at - job.created_at).total_seconds()
        self.console.print(
            f"  exit {done.returncode} after {took:.1f} s: the worker published"
            f" {progress.published:,} of {progress.valid:,} valid rows ({progress.total or 0:,}"
            f" read, {progress.invalid} invalid) in {seconds:.1f} s from the job's creation;"
            f" the session has sent {progress.sent} so far, the rest keep sending at the"
            f" pool's {rate}/s (spec.rateLimitPerSecond)"
        )
        report = self.wafleet("errors", job_id)
        self.say(f"wafleet bulk errors {job_id}", (report.stdout + report.stderr).strip())
        problems += report_problems(report.stdout, BAD_ROWS)
        later = self.wafleet("show", job_id)
        self.say(f"wafleet bulk show {job_id}", (later.stdout + later.stderr).strip())
        if problems:
            return self.failed(problems)
        self.console.print(
            f"  every bad row is in the report with its line and column; the {name} queue holds"
            " the rest of the messages, sent exactly once each (idempotency key <job>:<row>)"
        )
        return True

    def service(self) -> S3BulkService:
        """The bulk service the CLI used, read here to check the job's counts exactly."""
        kwargs = self.moto.client_kwargs()
        return S3BulkService(
            self.settings,
            boto3.client("s3", **kwargs),
            boto3.client("dynamodb", config=client_config(5.0), **kwargs),
        )

    def failed(self, problems: Sequence[str]) -> bool:
        self.console.print(f"  [red]the bulk job is not right: {escape('; '.join(problems))}[/]")
        self.console.print("  the bulk worker said:")
        self.console.print(escape(self.log.read_text(errors="replace")[-3000:]))
        return False

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait(timeout=5)
