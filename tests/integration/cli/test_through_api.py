"""`wafleet send`, `bulk` and `messages show` with `--api`: the real API over a socket, the
CLI as a subprocess. The test plays the sender where a message must move on (the ledger's
claim and outcome, as `wafleet-runner sender` writes them) and runs the bulk worker."""

from __future__ import annotations

import csv
import io
import secrets
import signal
import subprocess
from pathlib import Path

from session_runner.bulk.worker import Ending
from session_runner.sender.ledger import Ledger
from tests.harness.waiting import wait_for
from tests.integration.api.conftest import TABLE, Objects, Outbound
from tests.integration.cli.conftest import BAD_ROW, POOL, TARGET, Cli, work_bulk_jobs

TO = "+14155550123"


def job_id_of(line: str) -> str:
    """The job id `wafleet bulk FILE` starts its first line with."""
    job_id, _, rest = line.partition(":")
    assert job_id.startswith("bulk-"), line
    assert "shows its progress" in rest, line
    return job_id


def never_shown(key: str, *done: subprocess.CompletedProcess[str] | tuple[str, str]) -> None:
    for result in done:
        out, err = result if isinstance(result, tuple) else (result.stdout, result.stderr)
        assert key not in out
        assert key not in err


def test_send_twice_with_one_idempotency_key_is_one_message(
    cli: Cli, objects: Objects, outbound: Outbound
) -> None:
    queue = objects.pool(POOL, TARGET)
    assert queue is not None
    args = ("send", "--to", TO, "--text", "hello", "--idempotency-key", "order-1")
    first = cli.through_api(*args, "--pool", POOL)
    again = cli.through_api(*args, "--pool", POOL)
    by_target = cli.through_api(*args, "--target", TARGET)  # no cluster needed
    for done in (first, again, by_target):
        assert done.returncode == 0, done.stderr
    message_id = first.stdout.split(":")[0]
    assert message_id.startswith("api-")
    assert first.stdout.strip() == f"{message_id}: accepted"
    for replay in (again, by_target):
        assert replay.stdout.startswith(
            f"{message_id}: accepted before with this --idempotency-key"
        )
    # each replay published the one id again: the sender's ledger sends it once
    assert [m.id for m in outbound.received(queue)] == [message_id] * 3
    never_shown(cli.key, first, again, by_target)


async def test_wait_follows_the_message_and_messages_show_tells_its_history_both_ways(
    cli: Cli, objects: Objects, outbound: Outbound
) -> None:
    queue = objects.pool(POOL, TARGET)
    assert queue is not None
    ledger = Ledger(outbound.dynamodb, TABLE)
    waiting = cli.start(
        "send",
        "--api",
        cli.api,
        "--pool",
        POOL,
        "--to",
        TO,
        "--text",
        "hi",
        "--wait",
        "--timeout",
        "60",
        key=cli.key,
    )
    published = wait_for(lambda: outbound.received(queue), "the message on the pool's queue")
    message_id = published[0].id
    await ledger.claim(message_id, "sender-0", 60.0)  # the sender takes it ...
    await ledger.record_sent(message_id, "sender-0", "SM0001")  # ... and the vendor did
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert out.strip() == f"{message_id}: sent (vendor id SM0001)"

    shown = cli.through_api("messages", "show", message_id)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"{message_id}: sent (vendor id SM0001)"
    assert f"  to        {TO}" in lines
    assert f"  target    {TARGET}" in lines
    history = [line.split()[0] for line in lines[lines.index("  history") + 1 :]]
    assert history == ["queued", "sending", "sent"]
    direct = cli.run("messages", "show", message_id, "--ledger-table", TABLE)
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout == shown.stdout  # the same facts, the same lines
    never_shown(cli.key, (out, err), shown, direct)

    refused = cli.through_api("send", "--target", TARGET, "--to", TO, "--text", "no")
    failed_id = refused.stdout.split(":")[0]
    await ledger.claim(failed_id, "sender-0", 60.0)
    await ledger.record_failed(failed_id, "sender-0", "twilio 21610: unsubscribed recipient")
    for done in (
        cli.through_api("messages", "show", failed_id),
        cli.run("messages", "show", failed_id, "--ledger-table", TABLE),
    ):
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0] == (
            f"{failed_id}: failed: twilio 21610: unsubscribed recipient"
        )
    missing = cli.through_api("messages", "show", "api-nothing-here")
    assert missing.returncode == 1
    assert "no message api-nothing-here (HTTP 404)" in missing.stderr


async def test_bulk_follows_the_job_to_its_end_and_reports_the_bad_row_with_its_line(
    cli: Cli, objects: Objects, outbound: Outbound, recipients: Path, tmp_path: Path
) -> None:
    queue = objects.pool(POOL, TARGET)
    assert queue is not None
    following = cli.start(
        "bulk",
        str(recipients),
        "--pool",
        POOL,
        "--text",
        "Hi {{name}}",
        "--follow",
        "--api",
        cli.api,
        key=cli.key,
    )
    assert following.stdout is not None
    job_id = job_id_of(following.stdout.readline())
    assert await work_bulk_jobs(outbound) is Ending.DONE
    out, err = following.communicate(timeout=60)
    assert following.returncode == 0, err
    assert out.strip().startswith(f"{job_id}: done: published 2/2 · invalid 1")
    sent = sorted((m.id, m.to, m.text) for m in outbound.received(queue))
    assert sent == [
        (f"{job_id}:1", "+14155550001", "Hi Ann"),
        (f"{job_id}:3", "+14155550003", "Hi Cy"),
    ]

    shown = cli.through_api("bulk", "show", job_id)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == f"{job_id}: done"
    assert "  rows       3 (2 valid, 1 invalid)" in shown.stdout
    report = tmp_path / "errors.csv"
    written = cli.through_api("bulk", "errors", job_id, "-o", str(report))
    assert written.returncode == 0, written.stderr
    rows = list(csv.reader(io.StringIO(report.read_text(encoding="utf-8"))))
    assert rows == [["line", "row", "column", "problem"], BAD_ROW]
    to_stdout = cli.through_api("bulk", "errors", job_id)
    assert list(csv.reader(io.StringIO(to_stdout.stdout))) == rows
    never_shown(cli.key, (out, err), shown, written, to_stdout)


def test_ctrl_c_stops_following_and_leaves_the_job_running(
    cli: Cli, objects: Objects, recipients: Path
) -> None:
    objects.pool(POOL, TARGET)
    following = cli.start(
        "bulk",
        str(recipients),
        "--target",
        TARGET,
        "--text",
        "Hi {{name}}",
        "--follow",
        "--api",
        cli.api,
        key=cli.key,
    )
    assert following.stdout is not None
    job_id = job_id_of(following.stdout.readline())  # created: now following (no worker runs)
    following.send_signal(signal.SIGINT)
    out, err = following.communicate(timeout=60)
    assert following.returncode == 130, (out, err)
    assert (
        f"wafleet bulk: stopped following; job {job_id} keeps running: "
        f"`wafleet bulk show {job_id} --api {cli.api}` shows it"
    ) in err
    shown = cli.through_api("bulk", "show", job_id)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == f"{job_id}: waiting for a worker"  # not cancelled


def test_a_bad_api_key_exits_1_with_a_clear_line_and_the_key_never_shown(
    cli: Cli, objects: Objects, recipients: Path
) -> None:
    objects.pool(POOL, TARGET)
    unknown = f"wfk_{secrets.token_urlsafe(32)}"
    runs = [
        cli.run(
            "send", "--api", cli.api, "--target", TARGET, "--to", TO, "--text", "x", key=unknown
        ),
        cli.run("bulk", str(recipients), "--target", TARGET, "--api", cli.api, key=unknown),
        cli.run("bulk", "show", "bulk-0a1b2c3d4e5f", "--api", cli.api, "--api-key", unknown),
        cli.run("messages", "show", "api-1", "--api", cli.api, "--api-key", unknown),
    ]
    for done in runs:
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip().endswith(
            ": this API key is not known (HTTP 401); check --api-key (or WAFLEET_API_KEY)"
        ), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    never_shown(unknown, *runs)
    malformed = cli.run(
        "send", "--api", cli.api, "--target", TARGET, "--to", TO, "--text", "x", key="not a key"
    )
    assert malformed.returncode == 2
    assert "--api-key: not an API key" in malformed.stderr
    never_shown("not a key", malformed)


def test_what_the_api_refuses_is_named_as_the_option_that_gave_it(
    cli: Cli, objects: Objects, tmp_path: Path
) -> None:
    objects.pool(POOL, TARGET)
    bad_number = cli.through_api("send", "--pool", POOL, "--to", "14155550123", "--text", "x")
    assert bad_number.returncode == 2
    assert bad_number.stderr.startswith("wafleet send: --to: ")
    assert "(HTTP 422)" in bad_number.stderr
    nowhere = cli.through_api("send", "--target", "nowhere", "--to", TO, "--text", "x")
    assert nowhere.returncode == 1
    assert nowhere.stderr.startswith("wafleet send: --target: ")
    reused = cli.through_api(
        "send", "--target", TARGET, "--to", TO, "--text", "one", "--idempotency-key", "k"
    )
    assert reused.returncode == 0, reused.stderr
    conflict = cli.through_api(
        "send", "--target", TARGET, "--to", TO, "--text", "two", "--idempotency-key", "k"
    )
    assert conflict.returncode == 2
    assert conflict.stderr.startswith("wafleet send: --idempotency-key: already used")
    headless = tmp_path / "no-to.csv"
    headless.write_text("name\r\nAnn\r\n", encoding="utf-8")
    no_to = cli.through_api("bulk", str(headless), "--pool", POOL, "--text", "Hi {{name}}")
    assert no_to.returncode == 2
    assert no_to.stderr.startswith("wafleet bulk: FILE: the header has no 'to' column")
    unknown_column = cli.through_api("bulk", str(headless.with_name("x.csv")), "--pool", POOL)
    assert unknown_column.returncode == 2
    assert "FILE: no such file" in unknown_column.stderr


def test_send_a_media_file_through_the_api(cli: Cli, objects: Objects, outbound: Outbound) -> None:
    queue = objects.pool(POOL, TARGET)
    assert queue is not None
    url = "https://cdn.example/receipts/r-1.pdf"
    done = cli.through_api("send", "--target", TARGET, "--to", TO, "--media", url, "--text", "r")
    assert done.returncode == 0, done.stderr
    (message,) = outbound.received(queue)
    assert message.media is not None
    assert (message.media.url, message.media.content_type, message.text) == (
        url,
        "application/pdf",
        "r",
    )
    gif = cli.through_api(
        "send", "--target", TARGET, "--to", TO, "--media", "https://cdn.example/a.gif"
    )
    assert gif.returncode == 2, gif.stderr
    assert "is not one WhatsApp takes" in gif.stderr
