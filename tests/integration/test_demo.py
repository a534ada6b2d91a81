"""`make demo`'s local path (`python -m scripts.demo_local`), run as make runs it."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from scripts.demo_bulk import (
    BAD_ROWS,
    ROWS,
    TEXT,
    BadRow,
    bad_rows,
    csv_text,
    job_problems,
    recipient,
    report_problems,
)
from scripts.demo_webhooks import STATUSES, missing, tampered
from session_runner.bulk.model import BulkJob, BulkProgress, BulkState
from session_runner.bulk.rows import RowProblem, check_header, validate_row
from session_runner.bulk.template import compile_template
from session_runner.events.event import Event, EventType, Source
from tests.harness.control_plane import find_assets

REPO = Path(__file__).resolve().parents[2]


# the demo runs ~5 minutes on 2 cores (its 10,000-row bulk job alone ~110 s): its own limit
# below (600 s) is the one that should speak, with the demo's output, not pytest's 300 s
@pytest.mark.timeout(660)
def test_the_demo_fails_over_and_runs_the_account_on_the_real_control_plane() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.demo_local"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "400"},
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "snapshotted its new login at once" in out
    assert "fencing token 0 -> 1, session restored from the snapshot" in out
    assert "Stopped" in out
    if isinstance(find_assets(), str) and os.environ.get("CI") != "true":
        assert "The operator on Kubernetes: skipped" in out
        return
    # The operator part, on the real control plane: the runner of pod waa-demo-0 makes the account Ready and Connected.
    assert "whatsappaccount.wafleet.io/demo condition met" in out
    assert re.search(r"demo\s+\+15550100001\s+local\s+Connected\s+True\s+waa-demo-0\b", out)
    # Verify on demand: whole, then a flipped byte found, then repaired by the next snapshot.
    verdicts = re.findall(r"default/demo: (OK|DAMAGED):.*?\(exit (\d)\)", out, re.DOTALL)
    assert verdicts == [("OK", "0"), ("DAMAGED", "1"), ("OK", "0")]
    assert "SnapshotHealthy reason: SnapshotCorrupt" in out
    # Outbound: through the account's own session (to read), and through Twilio's stand-in.
    assert re.search(r"demo-order-1: sent \(vendor id 3EB0\w+\), read", out)
    assert re.search(r"ledger demo-order-1: SENT by waa-demo-0-t\d+-\w+, .*fencing token", out)
    assert re.search(r"otp-4711: sent \(vendor id SM\w+\)", out)
    assert "the Twilio stand-in received otp-4711 1 time(s)" in out
    assert "Twilio's signed status callback reached the ingest: the ledger says sent" in out
    assert re.search(r"message\.read\s+session\s+message demo-order-1", out)
    assert re.search(r"message\.sent\s+twilio\s+message otp-4711", out)
    # A deleted pod is replaced by the StatefulSet controller and restores the session.
    assert "restored the session from the snapshot: fencing token 2 -> 3, no new QR scan" in out
    assert "phase: Suspended, StatefulSet replicas: 0" in out
    # Webhooks: the statuses and a reply reach the subscriber, each verified with the
    # reference library; a forged body is refused; the dead subscriber is tombstoned.
    verified = r"webhook-id evt_[0-9a-f]{32}\s+signature verified with standardwebhooks"
    for kind in ("sent", "delivered", "read"):
        assert re.search(rf"message\.{kind}\s+session\s+demo-order-1\s+{verified}", out)
    assert re.search(rf"message\.sent\s+twilio\s+otp-4711\s+{verified}", out)
    assert re.search(rf"message\.inbound\s+twilio\s+from \+14155550123: .*{verified}", out)
    assert "did not verify" not in out
    assert "one byte of its body changed: rejected by standardwebhooks" in out
    assert re.search(r"crm\s+http://127\.0\.0\.1:\d+/hooks\s+Active\b", out)
    assert re.search(r"gone\s+http://127\.0\.0\.1:\d+/hooks\s+Tombstoned\s+\d+", out)
    assert "Tombstoned=True TooManyFailures: " in out
    assert re.search(r"Warning\s+Tombstoned\s+webhooksubscription/gone\s+deliveries stopped", out)
    # Bulk: the CSV through the session pool with the real CLI, its bar at the end, the report.
    valid, bad = ROWS - len(BAD_ROWS), len(BAD_ROWS)
    assert f"$ wafleet bulk demo-bulk.csv --pool demo-session --text '{TEXT}' --follow" in out
    bar = re.search(
        rf"(bulk-[0-9a-f]{{12}}) done \S+ published {valid}/{valid} · invalid {bad} · sent \d+",
        out,
    )
    assert bar is not None
    job = bar.group(1)
    assert f"{job}: done: published {valid}/{valid} · invalid {bad} · sent " in out
    assert f"$ wafleet bulk errors {job}\n    line,row,column,problem\n" in out
    for row in BAD_ROWS:
        assert re.search(
            rf"^    {row.line},{row.row},{row.column},\"?{re.escape(row.problem)}", out, re.M
        )
    assert f"rows       {ROWS} ({valid} valid, {bad} invalid)" in out
    assert "every bad row is in the report with its line and column" in out
    assert "the bulk job is not right" not in out
    assert "demo finished" in out


def _event(kind: EventType, message_id: str | None, vendor_id: str = "3EB0AA") -> Event:
    owner = {"account": "demo"} if message_id != "otp-4711" else {"pool": "otp-twilio"}
    return Event.create(
        type=kind,
        source=Source.SESSION if "account" in owner else Source.TWILIO,
        vendor_message_id=vendor_id,
        at=datetime(2026, 12, 6, tzinfo=UTC),
        namespace="default",
        message_id=message_id,
        **owner,
    )


SENT, DELIVERED, READ, INBOUND = (
    EventType.SENT,
    EventType.DELIVERED,
    EventType.READ,
    EventType.INBOUND,
)
WANTED = [*STATUSES, ("message.inbound", "SMreply")]


@pytest.mark.parametrize(
    ("got", "lost"),
    [
        pytest.param(
            [
                _event(SENT, "demo-order-1"),
                _event(DELIVERED, "demo-order-1"),
                _event(READ, "demo-order-1"),
                _event(SENT, "otp-4711", "SMotp"),
                _event(INBOUND, None, "SMreply"),
            ],
            [],
            id="everything",
        ),
        pytest.param(
            [
                _event(SENT, "demo-order-1"),
                _event(SENT, "demo-order-1"),  # at least once: a repeat counts once
                _event(DELIVERED, "demo-order-1"),
                _event(READ, "demo-order-1"),
                _event(SENT, "otp-4711", "SMotp"),
                _event(SENT, "other-9"),  # not asked for: no matter
                _event(INBOUND, None, "SMreply"),
            ],
            [],
            id="repeats-and-extras",
        ),
        pytest.param(
            [_event(SENT, "demo-order-1"), _event(DELIVERED, "demo-order-1")],
            [
                ("message.read", "demo-order-1"),
                ("message.sent", "otp-4711"),
                ("message.inbound", "SMreply"),
            ],
            id="in-the-order-wanted",
        ),
        pytest.param(
            [
                _event(SENT, "demo-order-1"),
                _event(DELIVERED, "demo-order-1"),
                _event(READ, "demo-order-1"),
                _event(READ, "otp-4711", "SMotp"),  # another status of that message
                _event(INBOUND, None, "SMother"),  # another reply
            ],
            [("message.sent", "otp-4711"), ("message.inbound", "SMreply")],
            id="same-type-other-message",
        ),
        pytest.param([], WANTED, id="nothing"),
    ],
)
def test_missing_names_the_wanted_events_not_delivered(
    got: list[Event], lost: list[tuple[str, str]]
) -> None:
    assert missing(WANTED, got) == lost


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_event(READ, "demo-order-1").to_json().encode(), id="an-event"),
        pytest.param(b'{"hello":"world"}', id="no-type-field"),
        pytest.param(b"", id="empty"),
    ],
)
def test_a_tampered_body_no_longer_verifies(body: bytes) -> None:
    secret = "whsec_" + base64.b64encode(b"demo-test-signing-key-32-bytes!!").decode()
    webhook = Webhook(secret)
    moment = datetime.now(UTC)
    headers = {
        "webhook-id": "evt_" + "0" * 32,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": webhook.sign("evt_" + "0" * 32, moment, body),
    }
    webhook.verify(body, headers, json_parse=False)
    assert tampered(body) != body
    with pytest.raises(WebhookVerificationError):
        webhook.verify(tampered(body), headers, json_parse=False)


@pytest.mark.parametrize(
    ("rows", "placed"),
    [
        pytest.param(10_000, (17, 2024, 4711, 7777, 9999), id="ten-thousand"),
        pytest.param(1_000, (2, 202, 471, 778, 1000), id="one-thousand"),
        pytest.param(5, (1, 2, 3, 4, 5), id="as-many-as-spoils"),
    ],
)
def test_the_bad_rows_are_spread_through_the_file(rows: int, placed: tuple[int, ...]) -> None:
    assert tuple(row.row for row in bad_rows(rows)) == placed


def test_a_file_too_small_for_its_bad_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="rows: 4 rows cannot hold 5"):
        bad_rows(4)


@pytest.mark.parametrize("rows", [1_000, 10_000])
def test_the_csv_has_distinct_numbers_and_exactly_the_bad_rows_the_validator_refuses(
    rows: int,
) -> None:
    """The demo's expectations agree with the validator the worker runs on every row."""
    bad = bad_rows(rows)
    lines = csv_text(rows, bad).splitlines()
    assert len(lines) == rows + 1
    template = compile_template(TEXT)
    header = check_header(lines[0].split(","), template, max_columns=10, field="csv")
    refused: dict[int, RowProblem] = {}
    numbers: set[str] = set()
    for line, content in enumerate(lines[1:], start=2):
        outcome = validate_row(header, content.split(","), template)
        if isinstance(outcome, RowProblem):
            refused[line] = outcome
        else:
            numbers.add(outcome.to)
    assert len(numbers) == rows - len(bad)  # every good row its own number
    assert set(refused) == {b.line for b in bad}
    for row in bad:
        assert refused[row.line].column == row.column
        assert refused[row.line].problem.startswith(row.problem)


def _job(state: BulkState, error: str | None = None, **progress: int | None) -> BulkJob:
    counts: dict[str, int | None] = {
        "total": 1_000,
        "valid": 995,
        "invalid": 5,
        "published": 995,
        "sent": 3,
    }
    moment = datetime(2026, 12, 6, tzinfo=UTC)
    return BulkJob(
        id="bulk-0123456789ab",
        target="demo-session",
        text=TEXT,
        source="s3://wafleet-demo-bulk/bulk/bulk-0123456789ab.csv",
        state=state,
        progress=BulkProgress(**{**counts, **progress}),
        error=error,
        created_at=moment,
        updated_at=moment,
    )


@pytest.mark.parametrize(
    ("job", "problems"),
    [
        pytest.param(_job(BulkState.DONE), [], id="done-and-whole"),
        pytest.param(_job(BulkState.DONE, sent=0), [], id="nothing-sent-yet-is-right"),
        pytest.param(
            _job(BulkState.RUNNING, total=None, published=990),
            ["state running, not done", "total None, not 1000", "published 990, not 995"],
            id="still-running",
        ),
        pytest.param(
            _job(
                BulkState.FAILED,
                "the CSV was replaced",
                total=None,
                valid=0,
                invalid=0,
                published=0,
            ),
            [
                "state failed, not done (the CSV was replaced)",
                "total None, not 1000",
                "valid 0, not 995",
                "invalid 0, not 5",
                "published 0, not 995",
            ],
            id="failed",
        ),
        pytest.param(
            _job(BulkState.DONE, valid=996, invalid=4, published=996),
            ["valid 996, not 995", "invalid 4, not 5", "published 996, not 995"],
            id="a-bad-row-taken-for-good",
        ),
    ],
)
def test_the_job_must_be_done_with_every_valid_row_published(
    job: BulkJob, problems: list[str]
) -> None:
    assert job_problems(job, 1_000, 5) == problems


BAD = (
    BadRow(2, "12025550002,Ada", "to", "not an E.164", "a number without +"),
    BadRow(471, "+12025550471,Grace,Hopper", "", "the row has 3 fields", "3 fields"),
)
REPORT = (
    "line,row,column,problem\r\n"
    '3,2,to,"not an E.164 phone number (+, then 7 to 15 digits)"\r\n'
    '472,471,,"the row has 3 fields, the header 2"\r\n'
)


@pytest.mark.parametrize(
    ("report", "problems"),
    [
        pytest.param(REPORT, [], id="each-bad-row-once"),
        pytest.param(
            REPORT.replace("472,471,,", "472,471,name,"),
            [
                "line 472 (row 471, column '') not reported",
                "line 472 reported, but it is a good row",
            ],
            id="wrong-column",
        ),
        pytest.param(
            REPORT + "9,8,name,empty (the text uses {{name}})\r\n",
            ["line 9 reported, but it is a good row"],
            id="a-good-row-reported",
        ),
        pytest.param(
            REPORT.replace("not an E.164", "empty"),
            ["line 3: 'empty phone number (+, then 7 to 15 digits)', not 'not an E.164'..."],
            id="wrong-problem",
        ),
        pytest.param(
            "line,row,column,problem\r\n",
            [
                "line 3 (row 2, column 'to') not reported",
                "line 472 (row 471, column '') not reported",
            ],
            id="empty",
        ),
        pytest.param("", ["the report's header is not line,row,column,problem"], id="nothing"),
        pytest.param(
            "Usage: wafleet bulk errors ID\n",
            ["the report's header is not line,row,column,problem"],
            id="not-a-report",
        ),
        pytest.param(REPORT + "10,9\r\n", ["a report line with 2 fields"], id="short-line"),
    ],
)
def test_the_report_must_name_each_bad_row_and_no_other(report: str, problems: list[str]) -> None:
    assert report_problems(report, BAD) == problems


def test_the_numbers_are_e164_and_distinct() -> None:
    assert recipient(1) == "+12025550001"
    assert len({recipient(row) for row in range(1, 10_001)}) == 10_000
