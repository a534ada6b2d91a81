"""`wafleet bulk`: the progress bar's position and counts from a job, the lines `bulk show`
prints, the exit codes, and `wafleet bulk FILE` meaning `wafleet bulk start FILE`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from session_runner.bulk.model import BulkJob, BulkProgress, BulkState
from session_runner.cli.bulk import (
    EXIT_INTERRUPTED,
    BarView,
    bar_view,
    finished,
    finished_line,
    follow_exit_code,
    interrupted_line,
    job_lines,
    route_args,
)

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def job(state: BulkState = BulkState.RUNNING, error: str | None = None, **counts: Any) -> BulkJob:
    return BulkJob(
        id="bulk-0a1b2c3d4e5f",
        target="alpha",
        text="Hi {{name}}",
        source="s3://wafleet-bulk/bulk/bulk-0a1b2c3d4e5f.csv",
        state=state,
        progress=BulkProgress(**counts),
        error=error,
        created_at=AT,
        updated_at=AT,
    )


@pytest.mark.parametrize(
    ("case", "the_job", "view"),
    [
        (
            "no worker yet: nothing known",
            job(BulkState.PENDING),
            BarView(
                "waiting for a worker",
                0,
                None,
                "published 0/? · sent 0 · delivered 0 · read 0 · failed 0",
            ),
        ),
        (
            "publishing, the file not read to its end: the total is not known",
            job(valid=120, invalid=2, published=100, sent=40),
            BarView(
                "publishing",
                100,
                None,
                "published 100/? · invalid 2 · sent 40 · delivered 0 · read 0 · failed 0",
            ),
        ),
        (
            "read to the end: the bar is over the valid rows (invalid ones are never published)",
            job(total=300, valid=297, invalid=3, published=250),
            BarView(
                "publishing",
                250,
                297,
                "published 250/297 · invalid 3 · sent 0 · delivered 0 · read 0 · failed 0",
            ),
        ),
        (
            "done: full bar, then the senders' counts move",
            job(
                BulkState.DONE,
                total=4,
                valid=3,
                invalid=1,
                published=3,
                sent=3,
                delivered=2,
                read=1,
                failed=0,
            ),
            BarView(
                "done", 3, 3, "published 3/3 · invalid 1 · sent 3 · delivered 2 · read 1 · failed 0"
            ),
        ),
        (
            "every row invalid: nothing to publish",
            job(BulkState.DONE, total=2, valid=0, invalid=2),
            BarView(
                "done", 0, 0, "published 0/0 · invalid 2 · sent 0 · delivered 0 · read 0 · failed 0"
            ),
        ),
        (
            "failed before reading",
            job(BulkState.FAILED, error="the CSV was replaced"),
            BarView("failed", 0, None, "published 0/? · sent 0 · delivered 0 · read 0 · failed 0"),
        ),
        (
            "cancelled halfway",
            job(BulkState.CANCELLED, valid=10, published=10, failed=1),
            BarView(
                "cancelled", 10, None, "published 10/? · sent 0 · delivered 0 · read 0 · failed 1"
            ),
        ),
    ],
)
def test_bar_view(case: str, the_job: BulkJob, view: BarView) -> None:
    assert bar_view(the_job) == view, case


@pytest.mark.parametrize(
    ("state", "over", "code"),
    [
        (BulkState.PENDING, False, 1),
        (BulkState.RUNNING, False, 1),
        (BulkState.DONE, True, 0),
        (BulkState.CANCELLED, True, 1),
        (BulkState.FAILED, True, 1),
    ],
)
def test_following_ends_when_the_job_is_over(state: BulkState, over: bool, code: int) -> None:
    assert finished(state) is over
    assert follow_exit_code(job(state)) == code


COMMANDS = ("start", "show", "errors", "cancel")


@pytest.mark.parametrize(
    ("args", "routed"),
    [
        (["list.csv", "--pool", "p"], ["start", "list.csv", "--pool", "p"]),
        (["--pool", "p", "list.csv"], ["start", "--pool", "p", "list.csv"]),
        (
            ["s3://lists/october.csv", "--pool", "p"],
            ["start", "s3://lists/october.csv", "--pool", "p"],
        ),
        (["list.csv", "--help"], ["start", "list.csv", "--help"]),
        (["show", "bulk-1"], ["show", "bulk-1"]),
        (["errors", "bulk-1", "-o", "e.csv"], ["errors", "bulk-1", "-o", "e.csv"]),
        (["start", "list.csv"], ["start", "list.csv"]),
        (["--help"], ["--help"]),  # the group's help lists the subcommands
        ([], []),  # no arguments: the group's help
    ],
)
def test_route_args(args: list[str], routed: list[str]) -> None:
    assert route_args(args, COMMANDS) == routed


def test_job_lines_say_where_the_job_is_and_where_the_bad_rows_are() -> None:
    lines = job_lines(
        job(BulkState.DONE, total=4, valid=3, invalid=1, published=3, sent=2), "http://api:8080"
    )
    assert lines[0] == "bulk-0a1b2c3d4e5f: done"
    assert "  rows       4 (3 valid, 1 invalid)" in lines
    assert "  created    2026-11-23T12:00:00Z" in lines
    assert lines[-1] == (
        "  1 row was not sent: `wafleet bulk errors bulk-0a1b2c3d4e5f --api http://api:8080` "
        "lists them with their line"
    )
    running = job_lines(job(valid=5, invalid=0, published=5))
    assert "  rows       5 read so far (5 valid, 0 invalid)" in running
    assert not any("not sent" in line for line in running)
    failed = job_lines(job(BulkState.FAILED, error="the CSV is gone"))
    assert "  error      the CSV is gone" in failed


@pytest.mark.parametrize(
    ("job_id", "api", "said"),
    [
        (
            "bulk-1",
            None,
            "stopped following; job bulk-1 keeps running: `wafleet bulk show bulk-1` shows it, "
            "`wafleet bulk cancel bulk-1` stops it",
        ),
        (
            "bulk-1",
            "http://api",
            "stopped following; job bulk-1 keeps running: `wafleet bulk show bulk-1 --api "
            "http://api` shows it, `wafleet bulk cancel bulk-1 --api http://api` stops it",
        ),
        (None, None, "interrupted while uploading: the job may have been created or not"),
    ],
)
def test_ctrl_c_says_the_job_goes_on_and_how_to_look_again(
    job_id: str | None, api: str | None, said: str
) -> None:
    assert interrupted_line(job_id, api) == said
    assert EXIT_INTERRUPTED == 130


def test_the_last_line_of_following() -> None:
    done = finished_line(job(BulkState.DONE, total=1, valid=1, published=1), None)
    assert done.startswith("bulk-0a1b2c3d4e5f: done: published 1/1 · sent 0")
    assert done.endswith("`wafleet bulk show bulk-0a1b2c3d4e5f`")
    failed = finished_line(job(BulkState.FAILED, error="the CSV is gone"), None)
    assert failed.endswith(": the CSV is gone")
