"""The demo's bulk part: a CSV of recipients with a few bad rows, sent with `wafleet bulk`
through the demo account's own session, followed to the end of publishing, and its per-row
report.

It runs inside the control-plane demo (`scripts/demo_local.py`), late: after the
deleted pod was replaced and restored, before the account is suspended. The
session pool sends at its spec.rateLimitPerSecond (0.5/s in the sample), so
nearly every message is still waiting in the pool's queue when the demo moves
on; the steps that roll, delete and restore the account's pod run before this
part, so they never see that queue. Suspending the account with it full is fine
(the runner holds one message at a time, concurrency 1); the queue keeps the
rest. After suspend nothing would be sent at all, so the sent count would not
move: that is why this part is not last.

`ROWS` is 10,000, as issue 17 asks. Every valid row waits in one SQS queue on
moto, whose SQS asks each queued message whether it is visible on every send
and receive; `tests/harness/moto_main.py` makes that question cheap (it read
the time through datetimes: 10,000 rows took some 13 minutes, 1,000 seconds).
The file's size is the only thing that changes with `ROWS` (the bad rows are
placed by share).

Here: the CSV is written (distinct E.164 numbers, and five bad rows: a number
without its +, an empty one, an empty name, a row with too many fields and
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
#: How long `wafleet bulk --follow` may take: publishing ROWS rows to moto takes seconds;
#: this only keeps a stuck demo from hanging.
FOLLOW_TIMEOUT_S: Final = 300
NAMES: Final = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken")
WAFLEET: Final = str(Path(sys.executable).with_name("wafleet"))
_CREATED = re.compile(rf"^({JOB_ID_PATTERN}): ", re.MULTILINE)


@dataclass(frozen=True)
class Spoil:
    """A way the demo spoils a row on purpose, and what the report must say of it."""

    at: float  # where in the file, as a share of its rows
    content: str  # the CSV line written instead: str.format with the row's good `number`
    column: str  # the column the report names ("" for the row as a whole)
    problem: str  # how the report's problem starts
    why: str  # what is wrong, for the demo's own line


SPOILS: Final = (
    Spoil(0.0017, "{digits},Ada", "to", "not an E.164 phone number", "a number without +"),
    Spoil(0.2024, "{number},", "name", "empty", "no name"),
    Spoil(0.4711, "{number},Grace,Hopper", "", "the row has 3 fields", "3 fields"),
    Spoil(0.7777, ",Linus", "to", "empty", "no number"),
    Spoil(0.9999, "{number}", "name", "missing", "1 field"),
)


@dataclass(frozen=True)
class BadRow:
    """A spoiled row of the demo's CSV."""

    row: int  # the data row, from 1
    content: str
    column: str
    problem: str
    why: str

    @property
    def line(self) -> int:
        """The file's line: the header is line 1 and no record here spans lines."""
        return self.row + 1


def recipient(row: int) -> str:
    """Row `row`'s number, E.164 and distinct for every row: +12025550001, +12025550002, ..."""
    return f"+1202{5_550_000 + row}"


def bad_rows(rows: int, spoils: Sequence[Spoil] = SPOILS) -> tuple[BadRow, ...]:
    """The spoiled rows of a CSV of `rows` rows, in file order (one per spoil: `rows` must be
    at least as many; rows 17, 2024, 4711, 7777 and 9999 of 10,000)."""
    if rows < len(spoils):
        raise ValueError(f"rows: {rows} rows cannot hold {len(spoils)} spoiled ones")
    placed: dict[int, Spoil] = {}
    for spoil in spoils:
        row = min(max(1, round(rows * spoil.at)), rows)
        while row in placed:  # a small file: the next free row
            row = row % rows + 1
        placed[row] = spoil
    return tuple(
        BadRow(
            row,
            spoil.content.format(number=recipient(row), digits=recipient(row)[1:]),
            spoil.column,
            spoil.problem,
            spoil.why,
        )
        for row, spoil in sorted(placed.items())
    )


BAD_ROWS: Final = bad_rows(ROWS)


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
        problems.append(
            f"state {job.state.value}, not done" + (f" ({job.error})" if job.error else "")
        )
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

    def bulk(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`wafleet bulk ARGS` as a person runs it, in the folder of the CSV."""
        return subprocess.run(
            [WAFLEET, "bulk", *args],
            env=self.cli_env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def follow(self, args: Sequence[str]) -> tuple[subprocess.CompletedProcess[str] | None, str]:
        """`wafleet bulk ARGS` (with --follow) to its end; None and why when it did not end
        within FOLLOW_TIMEOUT_S or the worker died under it (the CLI would wait forever)."""
        cli = subprocess.Popen(
            [WAFLEET, "bulk", *args],
            env=self.cli_env,
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + FOLLOW_TIMEOUT_S
        why = f"not done after {FOLLOW_TIMEOUT_S} s"
        while time.monotonic() < deadline:
            try:
                out, err = cli.communicate(timeout=1)
            except subprocess.TimeoutExpired:
                code = self.worker.poll() if self.worker is not None else None
                if code is None:
                    continue
                why = f"the bulk worker exited with code {code}"
                break
            return subprocess.CompletedProcess(cli.args, cli.returncode, out, err), ""
        cli.kill()
        cli.communicate()
        return None, why

    def show(self) -> bool:
        """Send the CSV through the session pool; True when the job and its report are right."""
        pool = session_pool()
        name, rate = pool["metadata"]["name"], pool["spec"]["rateLimitPerSecond"]
        self.console.print(
            "  the CLI creates the job itself on the caller's AWS credentials (moto here);"
            " with --api URL it goes through the HTTP API instead"
        )
        self.say(f"export WAFLEET_BULK_BUCKET={BUCKET} WAFLEET_BULK_TABLE={TABLE}", "")
        args = [CSV_NAME, "--pool", name, "--text", TEXT, "--follow"]
        command = "wafleet bulk " + shlex.join(args)
        started = time.monotonic()
        done, why = self.follow(args)
        if done is None:
            self.say(command, f"(stopped following: {why})")
            return self.failed([why])
        took = time.monotonic() - started
        # stdout: the job's line when created and when done; stderr: the bar's end state.
        created, _, finished = done.stdout.strip().partition("\n")
        self.say(command, "\n".join(x for x in (created, done.stderr.strip(), finished) if x))
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
        report = self.bulk("errors", job_id)
        self.say(f"wafleet bulk errors {job_id}", (report.stdout + report.stderr).strip())
        problems += report_problems(report.stdout, BAD_ROWS)
        later = self.bulk("show", job_id)
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
