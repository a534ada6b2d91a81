"""`wafleet send`, `bulk` and `messages show` without `--api`: straight to AWS (the moto server,
through boto3's environment) and the cluster (the pool's target, read with the kubeconfig)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from session_runner.bulk.worker import Ending
from tests.integration.api.conftest import BULK_BUCKET, BULK_TABLE, TABLE, Objects, Outbound
from tests.integration.cli.conftest import BAD_ROW, POOL, TARGET, Cli, work_bulk_jobs

TO = "+14155550123"
DIRECT_BULK = ("--bucket", BULK_BUCKET, "--bulk-table", BULK_TABLE)


def test_send_twice_with_one_idempotency_key_is_one_message_id(
    cli: Cli, objects: Objects, outbound: Outbound
) -> None:
    queue = objects.pool(POOL, TARGET)
    assert queue is not None
    args = ("send", "--pool", POOL, "--to", TO, "--text", "hello", "--idempotency-key", "order-1")
    first, again = cli.run(*args), cli.run(*args)
    for done in (first, again):
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "order-1: published"
    # Published twice with one id: the sender's ledger sends it once.
    assert {m.id for m in outbound.received(queue)} == {"order-1"}
    shown = cli.run("messages", "show", "order-1", "--ledger-table", TABLE)
    assert shown.returncode == 1  # no sender took it yet, and a direct send keeps no record
    assert "no message order-1" in shown.stderr


async def test_bulk_follows_to_its_end_and_reports_the_bad_row_with_its_line(
    cli: Cli, objects: Objects, outbound: Outbound, recipients: Path
) -> None:
    queue = objects.pool(POOL, TARGET)
    assert queue is not None
    following = cli.start(
        "bulk", str(recipients), "--pool", POOL, "--text", "Hi {{name}}", "--follow", *DIRECT_BULK
    )
    assert following.stdout is not None
    first = following.stdout.readline()
    job_id = first.partition(":")[0]
    assert job_id.startswith("bulk-"), (first, following.stderr and following.stderr.read())
    assert await work_bulk_jobs(outbound) is Ending.DONE
    out, err = following.communicate(timeout=60)
    assert following.returncode == 0, err
    assert out.strip().startswith(f"{job_id}: done: published 2/2 · invalid 1")
    assert sorted(m.id for m in outbound.received(queue)) == [f"{job_id}:1", f"{job_id}:3"]

    shown = cli.run("bulk", "show", job_id, "--bulk-table", BULK_TABLE)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == f"{job_id}: done"
    assert f"`wafleet bulk errors {job_id}` lists them with their line" in shown.stdout
    report = cli.run("bulk", "errors", job_id, "--bulk-table", BULK_TABLE)
    assert report.returncode == 0, report.stderr
    assert list(csv.reader(io.StringIO(report.stdout))) == [
        ["line", "row", "column", "problem"],
        BAD_ROW,
    ]


def test_bulk_refusals_name_the_option(
    cli: Cli, objects: Objects, recipients: Path, tmp_path: Path
) -> None:
    objects.pool(POOL, TARGET)
    no_bucket = cli.run("bulk", str(recipients), "--pool", POOL, "--text", "Hi {{name}}")
    assert no_bucket.returncode == 2
    assert no_bucket.stderr.startswith("wafleet bulk: --bucket: required without --api")
    no_column = cli.run("bulk", str(recipients), "--pool", POOL, *DIRECT_BULK)  # {{text}}
    assert no_column.returncode == 2
    assert no_column.stderr.startswith("wafleet bulk: --text: {{text}} is not a column of the CSV")
    target = cli.run("bulk", str(recipients), "--target", TARGET, *DIRECT_BULK)
    assert target.returncode == 2
    assert "--target: only with --api" in target.stderr
    reports = tmp_path / "reports"
    reports.mkdir()
    previous = reports / "e.csv"
    previous.write_text("an older report\n", encoding="utf-8")
    missing = cli.run("bulk", "errors", "bulk-000000000000", "-o", str(previous))
    assert missing.returncode == 1
    assert missing.stderr.strip() == "wafleet bulk errors: no bulk job bulk-000000000000"
    assert list(reports.iterdir()) == [previous]  # nothing half written, nothing clobbered
    assert previous.read_text(encoding="utf-8") == "an older report\n"


def test_send_a_template_directly(cli: Cli, objects: Objects, outbound: Outbound) -> None:
    queue = objects.pool(POOL, TARGET)
    assert queue is not None
    args = ("--template", "order_shipped", "--language", "en_US", "--var", "1=Ada")
    done = cli.run("send", "--pool", POOL, "--to", TO, *args, "--idempotency-key", "tpl-1")
    assert done.returncode == 0, done.stderr
    (message,) = outbound.received(queue)
    assert message.template is not None
    assert (message.id, message.text, message.template.name) == ("tpl-1", None, "order_shipped")
    assert (message.template.language, message.template.variables) == ("en_US", {"1": "Ada"})
    refused = cli.run("send", "--pool", POOL, "--to", TO, "--var", "1=Ada")
    assert refused.returncode == 2
    assert "--language and --var go with --template" in refused.stderr
