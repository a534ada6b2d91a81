"""CSV records from a byte stream, read incrementally, each with the byte offset it starts at.

Why offsets: a worker's cursor is "the next record starts at byte B, it is row
R, on line L", and its successor resumes with an S3 Range GET from B. So the
reader works on bytes: `LineSource` cuts the stream into physical lines
(keeping each line's offset and number) and holds at most one line plus one
chunk, whatever the file's size; `RecordReader` feeds those lines one at a time
to the standard `csv` module (which pulls exactly the lines a record needs:
quoted newlines work) and so knows where each record starts and ends.

A record longer than `max_record_bytes` (most often a stray quote that would
swallow the rest of the file) is not held: it becomes an unreadable record and
reading starts afresh on the next line. Invalid UTF-8 marks the record, it does
not stop the file. Blank records are skipped (they are not rows).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from session_runner.bulk.model import BulkInputError

BOM: Final = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Position:
    """Where the next record starts: its byte offset and its physical line number (1-based)."""

    offset: int
    line: int


@dataclass(frozen=True)
class Line:
    """One physical line (its newline included); `data` None when it was too long to keep."""

    data: bytes | None
    offset: int
    number: int
    end: int  # the offset just after it


class LineSource:
    """Physical lines of `chunks` (the bytes from `offset` on; `line` is the first one's number).

    Holds at most `max_line_bytes` plus one chunk: a longer line is read
    through and dropped (`Line.data` None). `peak_buffered` is the most it held.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        offset: int,
        line: int,
        max_line_bytes: int,
        strip_bom: bool = False,
    ) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self._start = 0  # where the unread part of the buffer starts
        self._offset = offset
        self._line = line
        self._max = max_line_bytes
        self._eof = False
        self._strip_bom = strip_bom and offset == 0
        self.peak_buffered = 0

    def next_line(self) -> Line | None:
        """The next line, or None at the end of the stream."""
        dropped = 0  # bytes of a too-long line read through so far
        while True:
            newline = self._buffer.find(b"\n", self._start)
            if newline >= 0:
                return self._take(newline + 1, dropped)
            pending = len(self._buffer) - self._start
            if pending > self._max:  # too long: drop what we hold, keep reading to its end
                dropped += pending
                self._buffer.clear()
                self._start = 0
            if not self._fill():
                if pending == 0 and dropped == 0:
                    return None
                return self._take(len(self._buffer), dropped)

    def _take(self, stop: int, dropped: int) -> Line:
        length = dropped + stop - self._start
        data = None if dropped or length > self._max else bytes(self._buffer[self._start : stop])
        line = Line(data, self._offset, self._line, self._offset + length)
        self._offset += length
        self._line += 1
        self._start = stop
        return line

    def _fill(self) -> bool:
        """Append the next chunk (dropping what was read); False at the end of the stream."""
        if self._eof:
            return False
        for chunk in self._chunks:
            if not chunk:
                continue
            if self._start:
                del self._buffer[: self._start]
                self._start = 0
            self._buffer += chunk
            if self._strip_bom and len(self._buffer) >= len(BOM):
                self._strip_bom = False
                if self._buffer.startswith(BOM):
                    del self._buffer[: len(BOM)]
                    self._offset += len(BOM)
            self.peak_buffered = max(self.peak_buffered, len(self._buffer))
            return True
        self._eof = True
        if self._strip_bom and self._buffer.startswith(BOM):  # a file of a BOM and nothing else
            del self._buffer[: len(BOM)]
            self._offset += len(BOM)
        self._strip_bom = False
        return False


@dataclass(frozen=True)
class Record:
    """One CSV record: its fields, or why it could not be read (`problem`), and where it is."""

    fields: tuple[str, ...]
    problem: str | None
    offset: int
    line: int
    end: Position


class _RecordTooLongError(Exception):
    pass


class RecordReader:
    """The records of a `LineSource`, each with its starting offset and line; blank ones skipped.

    `position` is always where the next record starts (after the last one read,
    and after any blank lines skipped since).
    """

    def __init__(self, source: LineSource, *, start: Position, max_record_bytes: int) -> None:
        self._source = source
        self._max = max_record_bytes
        self.position = start
        self._record_start: Position | None = None
        self._record_bytes = 0
        self._bad_utf8 = False

    def __iter__(self) -> Iterator[Record]:
        reader: Iterator[list[str]] | None = None
        while True:
            self._record_start = None
            self._record_bytes = 0
            self._bad_utf8 = False
            if reader is None:
                reader = csv.reader(self._lines())
            try:
                fields = next(reader)
            except StopIteration:
                return
            except _RecordTooLongError:
                reader = None
                yield self._record((), f"longer than {self._max} bytes (an unclosed quote?)")
                continue
            except csv.Error as error:
                reader = None
                yield self._record((), f"not readable as CSV: {error}")
                continue
            if not fields:
                continue
            yield self._record(tuple(fields), "not UTF-8" if self._bad_utf8 else None)

    def _record(self, fields: tuple[str, ...], problem: str | None) -> Record:
        start = self._record_start or self.position
        return Record(fields, problem, start.offset, start.line, self.position)

    def _lines(self) -> Iterator[str]:
        while True:
            line = self._source.next_line()
            if line is None:
                return
            if self._record_start is None:
                self._record_start = Position(line.offset, line.number)
            self._record_bytes += line.end - line.offset
            self.position = Position(line.end, line.number + 1)
            if line.data is None or self._record_bytes > self._max:
                raise _RecordTooLongError
            try:
                yield line.data.decode("utf-8")
            except UnicodeDecodeError:
                self._bad_utf8 = True
                yield line.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class HeaderRecord:
    """The header's fields and where the first data record starts."""

    fields: tuple[str, ...]
    data_start: Position


def read_header(
    prefix: bytes, *, complete: bool, max_header_bytes: int, field: str
) -> HeaderRecord:
    """The first record of a CSV whose first bytes are `prefix` (`complete`: the whole file).

    `prefix` should be `max_header_bytes + 1` bytes when the file is longer:
    a header that does not end inside it is too long. A UTF-8 BOM is skipped.
    BulkInputError(`field`) for a header that is missing, too long or not UTF-8.
    """
    source = LineSource([prefix], offset=0, line=1, max_line_bytes=max_header_bytes, strip_bom=True)
    reader = RecordReader(source, start=Position(0, 1), max_record_bytes=max_header_bytes)
    record = next(iter(reader), None)
    if record is None:
        raise BulkInputError(field, "the CSV is empty: it has no header row")
    too_long = (not complete and record.end.offset >= len(prefix)) or (
        record.problem is not None and record.problem.startswith("longer")
    )
    if too_long:
        raise BulkInputError(field, f"the header row is longer than {max_header_bytes} bytes")
    if record.problem is not None:
        raise BulkInputError(field, f"the header row is {record.problem}")
    return HeaderRecord(record.fields, record.end)
