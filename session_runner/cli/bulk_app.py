"""`wafleet bulk`: start a bulk send from a CSV, follow it, read its per-row error report.

    wafleet bulk FILE --pool NAME [--text TEMPLATE] [--follow] [--api URL]
    wafleet bulk show ID [--follow]
    wafleet bulk errors ID [-o FILE]
    wafleet bulk cancel ID

Through the API with `--api` (the CSV streamed as the upload), else directly
with the bulk service on the caller's AWS credentials (the same S3 staging
bucket and DynamoDB table the API's service uses: `--bucket`, `--bulk-table`,
or their WAFLEET_BULK_* variables). Either way a bulk worker publishes the rows.
`--follow` draws a progress bar until the job is over; Ctrl-C stops only the
following (exit 130), never the job.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from session_runner.bulk.model import BulkJob
from session_runner.cli.api_client import ApiClient
from session_runner.cli.bulk import (
    EXIT_INTERRUPTED,
    created_line,
    finished_line,
    follow,
    follow_exit_code,
    interrupted_line,
    job_lines,
    route_args,
)
from session_runner.cli.bulk_backends import ApiBulk, BulkBackend, DirectBulk, bulk_fields, is_url
from session_runner.cli.cluster import fetch, namespace_of
from session_runner.cli.options import (
    ApiAccess,
    api_access,
    api_key_option,
    api_option,
    fail,
    namespace_option,
    target_problem,
)
from session_runner.cli.problems import EXIT_USAGE, CommandError

COMMAND: Final = "wafleet bulk"
#: With no --text, each row's message is its `text` column.
DEFAULT_TEXT: Final = "{{text}}"
BUCKET_ENV: Final = "WAFLEET_BULK_BUCKET"
TABLE_ENV: Final = "WAFLEET_BULK_TABLE"
NO_BUCKET: Final = f"--bucket: required without --api (the staging bucket; or {BUCKET_ENV})"

T = TypeVar("T")


class BulkGroup(TyperGroup):
    """`bulk`'s subcommands, with `start` taken when none is named (`wafleet bulk FILE`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's vendored click Context
        return super().parse_args(ctx, route_args(args, list(self.commands)))


bulk_app = typer.Typer(
    name="bulk",
    cls=BulkGroup,
    help="Bulk sends from a CSV: `wafleet bulk FILE --pool NAME` starts one.",
    no_args_is_help=True,
)


def bulk_table_option() -> Any:
    return typer.Option(
        "wafleet-bulk-jobs",
        "--bulk-table",
        envvar=TABLE_ENV,
        help="Directly: the bulk jobs' DynamoDB table (the API's WAFLEET_BULK_TABLE).",
    )


def aws_location() -> tuple[str, str | None]:
    """The region and endpoint boto3 uses from the environment (AWS_DEFAULT_REGION or a
    profile's; AWS_ENDPOINT_URL), which the bulk service's settings take explicitly."""
    import boto3

    region = boto3.session.Session().region_name
    if not region:
        raise CommandError("AWS: no region (set AWS_DEFAULT_REGION, or a profile's region)")
    return region, os.environ.get("AWS_ENDPOINT_URL") or None


def read_service(table: str) -> Any:
    """The bulk service for reading and cancelling jobs: those touch the jobs table only, so
    the staging bucket and the topic are not asked for (`BulkSettings` requires them for
    creating; `model_construct` fills the rest with the defaults)."""
    from session_runner.bulk.service import from_settings
    from session_runner.contract.bulk_settings import BulkSettings

    region, endpoint = aws_location()
    settings = BulkSettings.model_construct(
        table=table, aws_region=region, aws_endpoint_url=endpoint
    )
    return from_settings(settings)


def create_service(bucket: str | None, table: str, topic: str) -> Any:
    """The bulk service for creating jobs: the staging bucket, the jobs table, the outbound
    topic (a name is looked up, as `wafleet send` does), and the WAFLEET_BULK_* caps."""
    import boto3
    from pydantic import ValidationError

    from session_runner.bulk.service import from_settings
    from session_runner.cli.send import SendError, topic_arn
    from session_runner.contract.bulk_settings import BulkSettings

    if not bucket:
        raise CommandError(NO_BUCKET, EXIT_USAGE)
    region, endpoint = aws_location()
    try:
        arn = topic_arn(boto3.client("sns", region_name=region), topic)
    except SendError as error:
        raise CommandError(f"--topic: {error}") from None
    try:
        settings = BulkSettings(
            table=table, bucket=bucket, topic_arn=arn, aws_region=region, aws_endpoint_url=endpoint
        )
    except ValidationError as error:
        item = error.errors(include_input=False)[0]
        name = str(item["loc"][0]) if item["loc"] else "settings"
        option = {"bucket": "--bucket", "table": "--bulk-table"}.get(
            name, f"WAFLEET_BULK_{name.upper()}"
        )
        raise CommandError(f"{option}: {item['msg']}", EXIT_USAGE) from None
    return from_settings(settings)


@asynccontextmanager
async def backend(
    access: ApiAccess | None,
    fields: dict[str, str],
    *,
    table: str,
    bucket: str | None = None,
    topic: str | None = None,
) -> AsyncIterator[BulkBackend]:
    """The API's bulk jobs with `access`, else the bulk service's (a creating one when
    `topic` is given)."""
    if access is not None:
        async with ApiClient(access.url, access.key, fields=fields) as client:
            yield ApiBulk(client)
        return
    if topic is not None:
        service = await asyncio.to_thread(create_service, bucket, table, topic)
    else:
        service = await asyncio.to_thread(read_service, table)
    yield DirectBulk(service, fields)


def aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def run_command(
    command: str,
    work: Coroutine[Any, Any, T],
    *,
    interrupted: Callable[[], str] = lambda: "interrupted",
    running: Callable[[], str | None] = lambda: None,
) -> T:
    """`asyncio.run(work)` with every way it can end as one line: Ctrl-C exits 130 saying
    `interrupted()`; a failure exits with its code, naming the job `running()` left running
    (a failure to follow a job does not stop it); AWS failures as `wafleet send` says them."""
    from session_runner.cli.send import aws_failure

    try:
        return asyncio.run(work)
    except KeyboardInterrupt:
        typer.echo(f"{command}: {interrupted()}", err=True)
        raise typer.Exit(code=EXIT_INTERRUPTED) from None
    except CommandError as error:
        job_id = running()
        if job_id is not None:
            error.line += f" (job {job_id} keeps running)"
        fail(command, error)
    except aws_errors() as error:
        fail(command, CommandError(aws_failure(error)))


@bulk_app.command("start")
def start(
    file: str = typer.Argument(
        ...,
        metavar="FILE",
        help="The CSV: a `to` column, one recipient a row (or s3://BUCKET/KEY).",
    ),
    pool: str | None = typer.Option(None, "--pool", help="The SenderPool to send through."),
    target: str | None = typer.Option(
        None, "--target", help="With --api: the routing target itself, instead of --pool."
    ),
    text: str = typer.Option(
        DEFAULT_TEXT,
        "--text",
        help="The message; {{column}} takes the row's value (default: the `text` column).",
    ),
    follow_job: bool = typer.Option(
        False, "--follow", help="Draw a progress bar until the job is over (Ctrl-C: stop looking)."
    ),
    namespace: str | None = namespace_option(),
    api: str | None = api_option(),
    api_key: str | None = api_key_option(),
    topic: str = typer.Option(
        "wafleet-outbound", "--topic", help="Directly: the outbound SNS topic (name or ARN)."
    ),
    bucket: str | None = typer.Option(
        None,
        "--bucket",
        envvar=BUCKET_ENV,
        help="Directly: the S3 bucket CSVs are staged in (the API's WAFLEET_BULK_BUCKET).",
    ),
    bulk_table: str = bulk_table_option(),
) -> None:
    """Start a bulk send: one message per CSV row, each sent exactly once.

    Rows that cannot be sent (a bad number, an empty value the text uses) are
    reported with their line (`wafleet bulk errors ID`); the others go on.
    Exit 0 once the job exists (with --follow: once it is done), 1 when it
    failed or was cancelled, 2 for bad arguments or a CSV that cannot make a
    job, 130 when Ctrl-C stopped following (the job goes on).
    """
    from session_runner.cli.send import SendError, pool_target

    try:
        access = api_access(api, api_key)
        problem = target_problem(pool, target, access is not None)
        if problem is not None:
            raise CommandError(problem, EXIT_USAGE)
        if not is_url(file) and not Path(file).is_file():
            raise CommandError(f"FILE: no such file: {file}", EXIT_USAGE)
        if access is None and not bucket:
            raise CommandError(NO_BUCKET, EXIT_USAGE)
    except CommandError as error:
        fail(COMMAND, error)
    if target is None:
        assert pool is not None
        ns = namespace_of(namespace)
        try:
            target = asyncio.run(fetch(lambda client: pool_target(client, ns, pool)))
        except SendError as error:
            fail(COMMAND, CommandError(str(error)))
    fields = bulk_fields("--pool" if pool else "--target")
    api_url = access.url if access else None
    created: list[str] = []

    async def run() -> BulkJob:
        assert target is not None
        async with backend(access, fields, table=bulk_table, bucket=bucket, topic=topic) as jobs:
            job = await jobs.create(target, text, file)
            created.append(job.id)
            typer.echo(created_line(job, api_url))
            if not follow_job:
                return job
            return await follow(job, lambda: jobs.get(job.id), Console(stderr=True))

    job = run_command(
        COMMAND,
        run(),
        interrupted=lambda: interrupted_line(created[-1] if created else None, api_url),
        running=lambda: created[-1] if created else None,
    )
    if follow_job:
        typer.echo(finished_line(job, api_url))
        raise typer.Exit(code=follow_exit_code(job))


@bulk_app.command("show")
def show(
    job_id: str = typer.Argument(..., metavar="ID", help="The bulk job's id."),
    follow_job: bool = typer.Option(
        False, "--follow", help="Draw a progress bar until the job is over (Ctrl-C: stop looking)."
    ),
    api: str | None = api_option(),
    api_key: str | None = api_key_option(),
    bulk_table: str = bulk_table_option(),
) -> None:
    """Show a bulk job: its state, rows, and what was published, sent, delivered and read.

    Exit 0 when shown (with --follow: when the job is done), 1 otherwise.
    """
    try:
        access = api_access(api, api_key)
    except CommandError as error:
        fail(f"{COMMAND} show", error)
    api_url = access.url if access else None

    async def run() -> BulkJob:
        async with backend(access, {"job_id": "ID"}, table=bulk_table) as jobs:
            job = await jobs.get(job_id)
            if not follow_job:
                return job
            return await follow(job, lambda: jobs.get(job_id), Console(stderr=True))

    job = run_command(
        f"{COMMAND} show",
        run(),
        interrupted=lambda: interrupted_line(job_id, api_url),
        running=lambda: job_id if follow_job else None,
    )
    for line in job_lines(job, api_url):
        typer.echo(line)
    if follow_job:
        raise typer.Exit(code=follow_exit_code(job))


@bulk_app.command("errors")
def errors(
    job_id: str = typer.Argument(..., metavar="ID", help="The bulk job's id."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the report to this file (default: standard output)."
    ),
    api: str | None = api_option(),
    api_key: str | None = api_key_option(),
    bulk_table: str = bulk_table_option(),
) -> None:
    """Write a job's per-row error report (CSV: line, row, column, problem).

    The rows' values are never in it. Exit 0 when written, 1 otherwise.
    """
    try:
        access = api_access(api, api_key)
    except CommandError as error:
        fail(f"{COMMAND} errors", error)

    try:
        # Into a file beside the output, renamed over it once whole: a failure leaves
        # neither half a report nor a clobbered older one.
        sink: Any = (
            tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, renamed or removed)
                "wb", dir=output.parent, prefix=f".{output.name}.", delete=False
            )
            if output
            else sys.stdout.buffer
        )
    except OSError as error:
        fail(f"{COMMAND} errors", CommandError(f"--output: {error.strerror}: {output}", EXIT_USAGE))

    async def run() -> None:
        async with backend(access, {"job_id": "ID"}, table=bulk_table) as jobs:
            async for chunk in jobs.errors(job_id):
                sink.write(chunk)

    written = False
    try:
        run_command(f"{COMMAND} errors", run())
        written = True
    finally:
        if output:
            sink.close()
            if written:
                os.replace(sink.name, output)
            else:
                os.unlink(sink.name)
        else:
            sink.flush()
    if output:
        typer.echo(f"{job_id}: the error report is in {output}", err=True)


@bulk_app.command("cancel")
def cancel(
    job_id: str = typer.Argument(..., metavar="ID", help="The bulk job's id."),
    api: str | None = api_option(),
    api_key: str | None = api_key_option(),
    bulk_table: str = bulk_table_option(),
) -> None:
    """Stop publishing a job's rows (those already published still send).

    Exit 0 when the job is stopped (or was over already), 1 otherwise.
    """
    try:
        access = api_access(api, api_key)
    except CommandError as error:
        fail(f"{COMMAND} cancel", error)

    async def run() -> BulkJob:
        async with backend(access, {"job_id": "ID"}, table=bulk_table) as jobs:
            return await jobs.cancel(job_id)

    job = run_command(f"{COMMAND} cancel", run())
    for line in job_lines(job, access.url if access else None):
        typer.echo(line)
