"""Records into batches: up to 10 messages (one SNS PublishBatch) and the rows that failed.

Pure. A batch is cut when it holds 10 messages, or `max_errors` problems (so a
file of nothing but bad rows is still written out in bounded pieces), or at
the end of the file; it carries the cursor after its last record. Each message's
id is `<jobId>:<row>`: the same row always gets the same id, which is what lets
a successor publish again what its predecessor may already have published.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from session_runner.bulk.csvstream import Record
from session_runner.bulk.cursor import Cursor
from session_runner.bulk.ids import message_id
from session_runner.bulk.rows import Header, RowProblem, ValidRow, validate_row
from session_runner.bulk.template import Template
from session_runner.contract.outbound import TARGET_ATTRIBUTE
from session_runner.sender.message import OutboundMessage

#: SNS PublishBatch's most entries per call.
PUBLISH_BATCH_SIZE: Final = 10
#: Error items per batch: DynamoDB BatchWriteItem's most.
ERRORS_PER_BATCH: Final = 25


@dataclass(frozen=True)
class RowError:
    """A row that became no message, for the error report."""

    row: int
    line: int
    column: str
    problem: str


@dataclass(frozen=True)
class Batch:
    messages: tuple[tuple[int, ValidRow], ...]  # (row, message), in file order
    errors: tuple[RowError, ...]
    end: Cursor  # the cursor after this batch's last record


def build_batches(
    records: Iterable[Record],
    start: Cursor,
    header: Header,
    template: Template,
    *,
    size: int = PUBLISH_BATCH_SIZE,
    max_errors: int = ERRORS_PER_BATCH,
) -> Iterator[Batch]:
    """The batches of `records` read from `start` (rows are numbered from `start.row`)."""
    cursor = start
    last_end = start.position
    messages: list[tuple[int, ValidRow]] = []
    errors: list[RowError] = []
    for record in records:
        row = cursor.row + len(messages) + len(errors)
        outcome: ValidRow | RowProblem = (
            RowProblem("", record.problem)
            if record.problem is not None
            else validate_row(header, record.fields, template)
        )
        if isinstance(outcome, ValidRow):
            messages.append((row, outcome))
        else:
            errors.append(RowError(row, record.line, outcome.column, outcome.problem))
        if len(messages) >= size or len(errors) >= max_errors:
            cursor = cursor.after(record.end, valid=len(messages), invalid=len(errors))
            yield Batch(tuple(messages), tuple(errors), cursor)
            messages, errors = [], []
        else:
            last_end = record.end
    if messages or errors:
        cursor = cursor.after(last_end, valid=len(messages), invalid=len(errors))
        yield Batch(tuple(messages), tuple(errors), cursor)


def publish_entries(job_id: str, target: str, batch: Batch) -> list[dict[str, Any]]:
    """The PublishBatchRequestEntries of `batch`: the body and the target attribute the pools
    filter on, as `sender.publish.publish_request` makes them; `Id` is the row."""
    return [
        {
            "Id": str(row),
            "Message": OutboundMessage(
                id=message_id(job_id, row), target=target, to=message.to, text=message.text
            ).to_json(),
            "MessageAttributes": {TARGET_ATTRIBUTE: {"DataType": "String", "StringValue": target}},
        }
        for row, message in batch.messages
    ]


def failed_entries(
    entries: Sequence[Mapping[str, Any]], answer: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """The entries PublishBatch did not take (its `Failed` list, by `Id`): to send again."""
    failed = {str(item.get("Id")) for item in answer.get("Failed") or ()}
    return [entry for entry in entries if str(entry["Id"]) in failed]
