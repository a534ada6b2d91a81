"""What a CSV header and each data row must be: pure decisions, the same for the API and the worker.

The header (its first record, a UTF-8 BOM already stripped) names the columns:
`to` (the recipient, E.164) and every column the text's placeholders use.
A header that cannot make a job refuses the whole request (`BulkInputError`);
a bad data row is only that row's problem (`RowProblem`: reported with its
line number, the job goes on). Problems never quote the row's values: the
error report is a file people pass around, and the values are personal data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from session_runner.bulk.model import BulkInputError
from session_runner.bulk.template import Template
from session_runner.sender.message import E164_PATTERN, MAX_TEXT_CHARS

TO_COLUMN: Final = "to"
#: How many column names an error message lists before "...".
NAMES_SHOWN: Final = 10

_E164 = re.compile(E164_PATTERN)


@dataclass(frozen=True)
class Header:
    """The columns, and where the ones the job uses are."""

    columns: tuple[str, ...]
    to_index: int
    used: tuple[tuple[str, int], ...]  # (placeholder column, its index), in the text's order


@dataclass(frozen=True)
class ValidRow:
    """A row that becomes a message."""

    to: str
    text: str


@dataclass(frozen=True)
class RowProblem:
    """Why a row becomes no message: the column at fault ("" for the row as a whole)."""

    column: str
    problem: str


def check_header(
    fields: Sequence[str], template: Template, *, max_columns: int, field: str
) -> Header:
    """The header of a job whose text is `template`, or BulkInputError(`field`) saying why not.

    Column names are trimmed; each must be non-empty and unique; there must be
    a `to` column, every placeholder must be a column, and there may be at most
    `max_columns` of them.
    """
    if not fields or (len(fields) == 1 and not fields[0].strip()):
        raise BulkInputError(field, "the CSV has no header row")
    if len(fields) > max_columns:
        raise BulkInputError(
            field, f"the header has {len(fields)} columns; at most {max_columns} are allowed"
        )
    columns = tuple(name.strip() for name in fields)
    index: dict[str, int] = {}
    for position, name in enumerate(columns, start=1):
        if not name:
            raise BulkInputError(field, f"header column {position} has no name")
        if name in index:
            raise BulkInputError(field, f"header column {name!r} appears more than once")
        index[name] = position - 1
    if TO_COLUMN not in index:
        raise BulkInputError(
            field, f"the header has no {TO_COLUMN!r} column (columns: {_names(columns)})"
        )
    missing = [name for name in template.placeholders if name not in index]
    if missing:
        raise BulkInputError(
            "text",
            f"{{{{{missing[0]}}}}} is not a column of the CSV (columns: {_names(columns)})",
        )
    return Header(
        columns=columns,
        to_index=index[TO_COLUMN],
        used=tuple((name, index[name]) for name in template.placeholders),
    )


def validate_row(
    header: Header, values: Sequence[str], template: Template
) -> ValidRow | RowProblem:
    """The message a data row becomes, or its first problem.

    In order: the number of fields (too few names the first missing column),
    the recipient (trimmed, E.164), every placeholder's value (trimmed,
    non-empty), the text's length after substitution.
    """
    width = len(header.columns)
    if len(values) < width:
        return RowProblem(
            header.columns[len(values)],
            f"missing: the row has {len(values)} fields, the header {width}",
        )
    if len(values) > width:
        return RowProblem("", f"the row has {len(values)} fields, the header {width}")
    to = values[header.to_index].strip()
    if not to:
        return RowProblem(TO_COLUMN, "empty")
    if not _E164.match(to):
        return RowProblem(TO_COLUMN, "not an E.164 phone number (+, then 7 to 15 digits)")
    filled: dict[str, str] = {}
    for name, position in header.used:
        value = values[position].strip()
        if not value:
            return RowProblem(name, f"empty (the text uses {{{{{name}}}}})")
        filled[name] = value
    text = template.render(filled)
    if len(text) > MAX_TEXT_CHARS:
        return RowProblem(
            "",
            f"the text has {len(text)} characters after substitution; "
            f"at most {MAX_TEXT_CHARS} are allowed",
        )
    return ValidRow(to, text)


def _names(columns: Sequence[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:NAMES_SHOWN])
    return shown + (", ..." if len(columns) > NAMES_SHOWN else "")
