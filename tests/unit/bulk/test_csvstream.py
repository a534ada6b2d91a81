"""The streaming CSV reader: offsets, line numbers, bounded memory, resumption. Table tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from session_runner.bulk.csvstream import (
    LineSource,
    Position,
    Record,
    RecordReader,
    read_header,
)
from session_runner.bulk.model import BulkInputError


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


ORIGIN = Position(0, 1)


def records(
    data: bytes, *, chunk: int = 7, max_bytes: int = 64, start: Position = ORIGIN
) -> list[Record]:
    source = LineSource(
        chunked(data[start.offset :], chunk),
        offset=start.offset,
        line=start.line,
        max_line_bytes=max_bytes,
    )
    return list(RecordReader(source, start=start, max_record_bytes=max_bytes))


def brief(found: list[Record]) -> list[tuple[tuple[str, ...], str | None, int, int, int]]:
    return [(r.fields, r.problem, r.offset, r.line, r.end.offset) for r in found]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", [], id="nothing"),
        pytest.param(b"a,b\n", [(("a", "b"), None, 0, 1, 4)], id="one line"),
        pytest.param(b"a,b", [(("a", "b"), None, 0, 1, 3)], id="no final newline"),
        pytest.param(b"a\r\nb\r\n", [(("a",), None, 0, 1, 3), (("b",), None, 3, 2, 6)], id="CRLF"),
        pytest.param(
            b'a,"x\ny"\nb\n',
            [(("a", "x\ny"), None, 0, 1, 8), (("b",), None, 8, 3, 10)],
            id="a quoted newline: the next record is on line 3",
        ),
        pytest.param(
            b"a\n\n\nb\n",
            [(("a",), None, 0, 1, 2), (("b",), None, 4, 4, 6)],
            id="blank lines are no records, but count as lines",
        ),
        pytest.param(
            b"a\n" + b"x" * 100 + b"\nb\n",
            [
                (("a",), None, 0, 1, 2),
                ((), "longer than 64 bytes (an unclosed quote?)", 2, 2, 103),
                (("b",), None, 103, 3, 105),
            ],
            id="a line too long to hold: reported, reading goes on",
        ),
        pytest.param(
            b'a\n"' + b"x\n" * 40 + b"b\n",
            [
                (("a",), None, 0, 1, 2),
                ((), "longer than 64 bytes (an unclosed quote?)", 2, 2, 67),
                *[(("x",), None, 67 + 2 * n, 34 + n, 69 + 2 * n) for n in range(8)],
                (("b",), None, 83, 42, 85),
            ],
            id="an unclosed quote: cut at the cap, then records again",
        ),
        pytest.param(
            b"a\n\xff\xfe,b\nc\n",
            [
                (("a",), None, 0, 1, 2),
                (("\ufffd\ufffd", "b"), "not UTF-8", 2, 2, 7),
                (("c",), None, 7, 3, 9),
            ],
            id="invalid UTF-8 marks its record only",
        ),
        pytest.param(b"\xef\xbb\xbfa\n", [(("a",), None, 3, 1, 5)], id="no BOM stripping here"),
    ],
)
def test_records_with_their_offsets_and_lines(
    data: bytes, expected: list[tuple[tuple[str, ...], str | None, int, int, int]]
) -> None:
    found = records(data)
    if data.startswith(b"\xef\xbb\xbf"):  # RecordReader does not strip: only read_header does
        assert found[0].fields == ("\ufeffa",)
        return
    assert brief(found) == expected


SAMPLE = (
    b"+1,Ann\n"
    b'+2,"multi\nline"\n'
    b"\n"
    b"+3," + b"z" * 80 + b"\n"
    b'+4,"quote ""inside"""\r\n'
    b"\xc3\xa9t\xc3\xa9,ok\n"
    b"+5,last"
)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 13, 64, 1000])
def test_the_chunk_size_changes_nothing_and_memory_stays_bounded(chunk: int) -> None:
    expected = records(SAMPLE, chunk=len(SAMPLE))
    source = LineSource(chunked(SAMPLE, chunk), offset=0, line=1, max_line_bytes=64)
    found = list(RecordReader(source, start=Position(0, 1), max_record_bytes=64))
    assert found == expected
    assert source.peak_buffered <= 64 + chunk
    assert [r.fields[1] for r in found if not r.problem] == [
        "Ann",
        "multi\nline",
        'quote "inside"',
        "ok",
        "last",
    ]


def test_resuming_at_any_record_reads_exactly_the_records_after_it() -> None:
    everything = records(SAMPLE)
    for index, record in enumerate(everything):
        resumed = records(SAMPLE, start=Position(record.offset, record.line))
        assert resumed == everything[index:]
    last = everything[-1].end
    assert records(SAMPLE, start=last) == []


@pytest.mark.parametrize(
    ("prefix", "complete", "fields", "start"),
    [
        pytest.param(b"to,name\n+1,a\n", True, ("to", "name"), Position(8, 2), id="plain"),
        pytest.param(
            b"\xef\xbb\xbfto,name\r\n+1,a\n", True, ("to", "name"), Position(12, 2), id="BOM"
        ),
        pytest.param(b"to,name", True, ("to", "name"), Position(7, 2), id="only a header"),
        pytest.param(b"\n\nto\n", True, ("to",), Position(5, 4), id="after blank lines"),
        pytest.param(
            b'to,"first\nname"\n+1,a\n',
            True,
            ("to", "first\nname"),
            Position(16, 3),
            id="a quoted newline in the header",
        ),
        pytest.param(b"to,name\n" + b"x" * 60, False, ("to", "name"), Position(8, 2), id="long"),
    ],
)
def test_the_header_and_where_data_starts(
    prefix: bytes, complete: bool, fields: tuple[str, ...], start: Position
) -> None:
    header = read_header(prefix, complete=complete, max_header_bytes=64, field="csv")
    assert header.fields == fields
    assert header.data_start == start


@pytest.mark.parametrize(
    ("prefix", "complete", "message"),
    [
        pytest.param(b"", True, "empty", id="empty"),
        pytest.param(b"\xef\xbb\xbf", True, "empty", id="a BOM and nothing else"),
        pytest.param(b"\n\n", True, "empty", id="blank lines only"),
        pytest.param(b"to," * 30, False, "longer than 64 bytes", id="no end within the cap"),
        pytest.param(b"to," * 30 + b"\n", True, "longer than 64 bytes", id="longer than the cap"),
        pytest.param(b'to,"' + b"a\n" * 40, False, "longer than 64 bytes", id="unclosed quote"),
        pytest.param(b"to,\xff\n", True, "not UTF-8", id="not UTF-8"),
    ],
)
def test_a_header_that_cannot_be_read_is_refused(
    prefix: bytes, complete: bool, message: str
) -> None:
    with pytest.raises(BulkInputError, match=message) as refused:
        read_header(prefix, complete=complete, max_header_bytes=64, field="url")
    assert refused.value.field == "url"


def test_a_million_columns_are_refused_after_reading_only_the_cap() -> None:
    """The reader is handed the first cap + 1 bytes, not the 7 MB line."""
    header = b"to," + b",".join(b"c%d" % i for i in range(1_000_000)) + b"\n"
    prefix = header[: 64 * 1024 + 1]
    with pytest.raises(BulkInputError, match="longer than 65536 bytes"):
        read_header(prefix, complete=False, max_header_bytes=64 * 1024, field="csv")
