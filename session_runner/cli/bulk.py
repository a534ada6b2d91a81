"""`wafleet bulk`: what a bulk job looks like at the terminal. Pure, but for `follow`.

A job (`bulk.model.BulkJob`, from the API's JSON or the bulk service) becomes
the progress bar's position (`bar_view`: published of the rows to publish,
then the outcome counts as the senders report them), the lines `bulk show`
prints (`job_lines`), and the exit code following it ends with. `follow` is
the thin shell that polls and redraws a rich progress bar until the job is
over (DONE, CANCELLED or FAILED).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from session_runner.bulk.model import BulkJob, BulkProgress, BulkState

#: `wafleet bulk FILE ...` is `wafleet bulk start FILE ...`: the group's default command.
DEFAULT_COMMAND: Final = "start"
#: The job's outcome once it is over; following stops there.
FINISHED: Final = frozenset({BulkState.DONE, BulkState.CANCELLED, BulkState.FAILED})
#: What the bar says a job is doing.
PHASES: Final = {
    BulkState.PENDING: "waiting for a worker",
    BulkState.RUNNING: "publishing",
    BulkState.DONE: "done",
    BulkState.CANCELLED: "cancelled",
    BulkState.FAILED: "failed",
}
#: The exit code of `wafleet bulk --follow` when Ctrl-C stops the following (the shell's
#: 128 + SIGINT: a script sees it was interrupted; the job itself goes on).
EXIT_INTERRUPTED: Final = 130


def route_args(args: Sequence[str], commands: Sequence[str]) -> list[str]:
    """`bulk`'s arguments with the default command put in front when none is named: `wafleet
    bulk list.csv --pool p` starts a job, `wafleet bulk show ID` shows one, and `wafleet bulk`
    alone or `wafleet bulk --help` is the group's help."""
    if not args or args[0] in commands or args[0] == "--help":
        return list(args)
    return [DEFAULT_COMMAND, *args]


def finished(state: BulkState) -> bool:
    return state in FINISHED


def follow_exit_code(job: BulkJob) -> int:
    """0 when the job got to its end; 1 when it was cancelled or failed."""
    return 0 if job.state is BulkState.DONE else 1


@dataclass(frozen=True)
class BarView:
    """The progress bar's position: `completed` of `total` (None: not known yet)."""

    phase: str
    completed: int
    total: int | None
    counts: str


def to_publish(progress: BulkProgress) -> int | None:
    """How many rows the job publishes: its valid rows, known once the file was read."""
    if progress.total is None:
        return None
    return max(progress.total - progress.invalid, 0)


def counts_text(progress: BulkProgress) -> str:
    """The counts after the bar: published so far, invalid rows, then the senders' outcomes."""
    planned = to_publish(progress)
    parts = [f"published {progress.published}/{'?' if planned is None else planned}"]
    if progress.invalid:
        parts.append(f"invalid {progress.invalid}")
    parts += [
        f"sent {progress.sent}",
        f"delivered {progress.delivered}",
        f"read {progress.read}",
        f"failed {progress.failed}",
    ]
    return " · ".join(parts)


def bar_view(job: BulkJob) -> BarView:
    progress = job.progress
    return BarView(
        phase=PHASES[job.state],
        completed=progress.published,
        total=to_publish(progress),
        counts=counts_text(progress),
    )


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_flag(api: str | None) -> str:
    return f" --api {api}" if api else ""


def show_hint(job_id: str, api: str | None) -> str:
    return f"`wafleet bulk show {job_id}{api_flag(api)}`"


def rows_line(progress: BulkProgress) -> str:
    so_far = f"{progress.valid} valid, {progress.invalid} invalid"
    if progress.total is None:
        return f"{progress.valid + progress.invalid} read so far ({so_far})"
    return f"{progress.total} ({so_far})"


def job_lines(job: BulkJob, api: str | None = None) -> list[str]:
    """What `wafleet bulk show` prints."""
    progress = job.progress
    lines = [
        f"{job.id}: {PHASES[job.state]}",
        f"  target     {job.target}",
        f"  source     {job.source}",
        f"  rows       {rows_line(progress)}",
        f"  progress   {counts_text(progress)}",
        f"  created    {_when(job.created_at)}",
        f"  updated    {_when(job.updated_at)}",
    ]
    if job.error:
        lines.append(f"  error      {job.error}")
    if progress.invalid:
        rows = "row was" if progress.invalid == 1 else "rows were"
        lines.append(
            f"  {progress.invalid} {rows} not sent: `wafleet bulk errors {job.id}{api_flag(api)}` "
            "lists them with their line"
        )
    return lines


def created_line(job: BulkJob, api: str | None) -> str:
    """The line `wafleet bulk FILE` prints once the job exists."""
    return f"{job.id}: {PHASES[job.state]}; {show_hint(job.id, api)} shows its progress"


def finished_line(job: BulkJob, api: str | None) -> str:
    """The line following a job ends with."""
    line = f"{job.id}: {PHASES[job.state]}: {counts_text(job.progress)}"
    if job.error:
        line += f": {job.error}"
    if job.state is BulkState.DONE:
        line += f"; the senders' counts go on moving: {show_hint(job.id, api)}"
    return line


def interrupted_line(job_id: str | None, api: str | None) -> str:
    """What Ctrl-C while following says: the job is not stopped by it."""
    if job_id is None:
        return "interrupted while uploading: the job may have been created or not"
    return (
        f"stopped following; job {job_id} keeps running: {show_hint(job_id, api)} "
        f"shows it, `wafleet bulk cancel {job_id}{api_flag(api)}` stops it"
    )


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
    )


async def follow(
    job: BulkJob,
    fetch: Callable[[], Awaitable[BulkJob]],
    console: Console,
    poll_s: float = 1.0,
) -> BulkJob:
    """Redraw the bar from `fetch()` every `poll_s` until the job is over; the last job seen."""
    with progress_bar(console) as bar:
        view = bar_view(job)
        task = bar.add_task(
            f"{job.id} {view.phase}", total=view.total, completed=view.completed, counts=view.counts
        )
        while not finished(job.state):
            await asyncio.sleep(poll_s)
            job = await fetch()
            view = bar_view(job)
            bar.update(
                task,
                description=f"{job.id} {view.phase}",
                total=view.total,
                completed=view.completed,
                counts=view.counts,
            )
    return job
