"""The streaming multipart reader, fed the same body split at every chunk size."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from session_runner.api.multipart import MultipartError, MultipartForm, boundary_of

BOUNDARY = b"b0undary"
CSV = b"phone,name\r\n" + b"".join(b"+1415555%04d,N%d\r\n" % (i, i) for i in range(200))


def body(*parts: tuple[str, bytes, str | None], end: bool = True) -> bytes:
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += b"--" + BOUNDARY + f"\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += value + b"\r\n"
    return out + (b"--" + BOUNDARY + b"--\r\n" if end else b"")


async def split(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_form(data: bytes, size: int) -> list[tuple[str, str | None, bytes, int]]:
    form = MultipartForm(split(data, size), BOUNDARY)
    out = []
    while (part := await form.next_part()) is not None:
        chunks = [chunk async for chunk in part.chunks()]
        out.append((part.name, part.filename, b"".join(chunks), len(chunks)))
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, 64, 100, 1000, 1 << 20])
async def test_every_split_reads_the_same_parts(size: int) -> None:
    data = body(("target", b"alpha", None), ("text", b"Hi {{name}}", None), ("file", CSV, "r.csv"))
    parts = await read_form(data, size)
    assert [(n, f, v) for n, f, v, _ in parts] == [
        ("target", None, b"alpha"),
        ("text", None, b"Hi {{name}}"),
        ("file", "r.csv", CSV),
    ]
    file_chunks = parts[-1][3]
    assert file_chunks <= len(data) // size + 2  # at most one chunk per network chunk


async def test_an_unread_part_is_skipped() -> None:
    form = MultipartForm(split(body(("a", b"1", None), ("b", b"2", None)), 5), BOUNDARY)
    first = await form.next_part()
    second = await form.next_part()
    assert first is not None
    assert second is not None
    assert second.name == "b"
    assert await second.read() == b"2"
    assert await form.next_part() is None


async def test_a_field_is_bounded() -> None:
    form = MultipartForm(split(body(("text", b"x" * 100, None)), 10), BOUNDARY)
    part = await form.next_part()
    assert part is not None
    with pytest.raises(MultipartError) as raised:
        await part.read(limit=50)
    assert raised.value.field == "text"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (body(("a", b"1", None), end=False), "body"),  # no closing boundary
        (b"not multipart at all", "body"),
        (
            b"--"
            + BOUNDARY
            + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--"
            + BOUNDARY
            + b"--\r\n",
            "body",
        ),
    ],
)
async def test_broken_bodies_name_the_body(data: bytes, field: str) -> None:
    with pytest.raises(MultipartError) as raised:
        await read_form(data, 7)
    assert raised.value.field == field


async def test_the_file_must_be_last() -> None:
    form = MultipartForm(split(body(("file", CSV, "r.csv"), ("x", b"1", None)), 64), BOUNDARY)
    part = await form.next_part()
    assert part is not None
    async for _ in part.chunks():
        pass
    with pytest.raises(MultipartError) as raised:
        await form.expect_end()
    assert raised.value.field == "file"


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/form-data; boundary=abc", b"abc"),
        ('multipart/form-data; boundary="a b"', b"a b"),
        ("multipart/form-data", None),
        ("application/json", None),
        ("multipart/form-data; boundary=" + "x" * 71, None),
    ],
)
def test_boundary_of(content_type: str, boundary: bytes | None) -> None:
    assert boundary_of(content_type) == boundary
