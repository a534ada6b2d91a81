"""Batches of 10 messages, bad rows with their lines, message ids: table tests."""

from __future__ import annotations

import json

import pytest

from session_runner.bulk.batches import (
    Batch,
    RowError,
    build_batches,
    failed_entries,
    publish_entries,
)
from session_runner.bulk.csvstream import Position, Record
from session_runner.bulk.cursor import Cursor
from session_runner.bulk.ids import message_id, parse_message_id
from session_runner.bulk.rows import ValidRow, check_header
from session_runner.bulk.template import compile_template
from session_runner.sender.message import MESSAGE_ID_PATTERN, OutboundMessage

TEMPLATE = compile_template("Hi {{name}}")
HEADER = check_header(["to", "name"], TEMPLATE, max_columns=10, field="csv")
START = Cursor(offset=8, row=1, line=2)


def record(n: int, *, good: bool = True, problem: str | None = None) -> Record:
    """Data record n (0-based), one line each, 10 bytes each, from offset 8 / line 2."""
    fields = (f"+1415555{n:04d}", f"p{n}") if good else ("bad", f"p{n}")
    return Record(fields, problem, 8 + 10 * n, 2 + n, Position(18 + 10 * n, 3 + n))


def shape(batches: list[Batch]) -> list[tuple[list[int], list[int], Cursor]]:
    return [([row for row, _ in b.messages], [e.row for e in b.errors], b.end) for b in batches]


def at(n: int, valid: int, invalid: int) -> Cursor:
    """The cursor after n records."""
    return Cursor(offset=8 + 10 * n, row=1 + n, line=2 + n, valid=valid, invalid=invalid)


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        pytest.param([], [], id="no records: no batch"),
        pytest.param(
            [record(n) for n in range(3)], [([1, 2, 3], [], at(3, 3, 0))], id="a short last batch"
        ),
        pytest.param(
            [record(n) for n in range(10)],
            [(list(range(1, 11)), [], at(10, 10, 0))],
            id="exactly 10",
        ),
        pytest.param(
            [record(n) for n in range(23)],
            [
                (list(range(1, 11)), [], at(10, 10, 0)),
                (list(range(11, 21)), [], at(20, 20, 0)),
                ([21, 22, 23], [], at(23, 23, 0)),
            ],
            id="23 rows: 10, 10, 3",
        ),
        pytest.param(
            [record(0), record(1, good=False), record(2)],
            [([1, 3], [2], at(3, 2, 1))],
            id="a bad row rides with its batch",
        ),
        pytest.param(
            [record(n, good=False) for n in range(4)],
            [([], [1, 2], at(2, 0, 2)), ([], [3, 4], at(4, 0, 4))],
            id="only bad rows: cut every max_errors",
        ),
        pytest.param(
            [record(0, problem="not UTF-8")], [([], [1], at(1, 0, 1))], id="an unreadable record"
        ),
    ],
)
def test_batches(
    records: list[Record], expected: list[tuple[list[int], list[int], Cursor]]
) -> None:
    assert shape(list(build_batches(records, START, HEADER, TEMPLATE, max_errors=2))) == expected


def test_rows_are_numbered_from_the_cursor_and_errors_keep_their_lines() -> None:
    resumed = Cursor(offset=108, row=11, line=12, valid=9, invalid=1)
    records = [
        Record(("+14155550000", "a"), None, 108, 12, Position(150, 14)),  # two lines (quoted)
        Record(("x", "b"), None, 150, 14, Position(160, 15)),
    ]
    [batch] = build_batches(records, resumed, HEADER, TEMPLATE)
    assert batch.messages == ((11, ValidRow("+14155550000", "Hi a")),)
    assert batch.errors == (
        RowError(12, 14, "to", "not an E.164 phone number (+, then 7 to 15 digits)"),
    )
    assert batch.end == Cursor(offset=160, row=13, line=15, valid=10, invalid=2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("bulk-0123456789ab:1", ("bulk-0123456789ab", 1), id="row 1"),
        pytest.param("bulk-0123456789ab:500000", ("bulk-0123456789ab", 500000), id="large row"),
        pytest.param("bulk-0123456789ab:0", None, id="row 0 is no row"),
        pytest.param("bulk-0123456789ab:01", None, id="leading zero"),
        pytest.param("bulk-0123456789AB:1", None, id="upper-case hex"),
        pytest.param("bulk-0123456789a:1", None, id="short id"),
        pytest.param("wf-abc", None, id="an API message"),
        pytest.param("bulk-0123456789ab:1:2", None, id="extra part"),
    ],
)
def test_bulk_message_ids(value: str, expected: tuple[str, int] | None) -> None:
    assert parse_message_id(value) == expected


def test_a_rows_message_id_is_a_valid_idempotency_key_and_parses_back() -> None:
    import re

    value = message_id("bulk-0123456789ab", 499_999)
    assert re.match(MESSAGE_ID_PATTERN, value)
    assert parse_message_id(value) == ("bulk-0123456789ab", 499_999)


def test_publish_entries_carry_the_row_id_body_and_target() -> None:
    batch = Batch(((7, ValidRow("+14155550123", "Hi a")),), (), START)
    [entry] = publish_entries("bulk-0123456789ab", "pool-a", batch)
    assert entry["Id"] == "7"
    assert entry["MessageAttributes"] == {"target": {"DataType": "String", "StringValue": "pool-a"}}
    message = OutboundMessage.from_json(entry["Message"])
    assert (message.id, message.target, message.to, message.text) == (
        "bulk-0123456789ab:7",
        "pool-a",
        "+14155550123",
        "Hi a",
    )
    assert json.loads(entry["Message"])["id"] == "bulk-0123456789ab:7"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param({"Successful": [{"Id": "1"}, {"Id": "2"}]}, [], id="all taken"),
        pytest.param({"Failed": [{"Id": "2", "Code": "Throttled"}]}, ["2"], id="one failed"),
        pytest.param({"Failed": [{"Id": "1"}, {"Id": "2"}]}, ["1", "2"], id="all failed"),
        pytest.param({}, [], id="an answer without lists"),
    ],
)
def test_failed_entries_are_sent_again(answer: dict[str, object], expected: list[str]) -> None:
    entries = [{"Id": "1"}, {"Id": "2"}]
    assert [e["Id"] for e in failed_entries(entries, answer)] == expected
