"""A multipart/form-data body read as it arrives: small fields whole, the file in chunks.

Starlette's form parser spools an upload to a temporary file before the route
runs: a 500,000-row CSV would wait on disk (and count against the pod's
ephemeral storage) before the bulk service saw a byte of it. Here the body
is fed to python-multipart's streaming parser as the server receives it, and
each network chunk of the file part is handed on at once (`Part.chunks`), so
memory holds one chunk whatever the file's size.

The fields a request needs must come before the file (`curl -F` and every
HTTP library send them in the order given), and the file must be the last
part. `MultipartError` names the field at fault.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Final

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

MAX_FIELD_BYTES: Final = 64 * 1024
MAX_PARTS: Final = 16


class MultipartError(Exception):
    """The body is not the multipart form expected; `field` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a `multipart/form-data` Content-Type; None for another type."""
    media, options = parse_options_header(content_type)
    if media != b"multipart/form-data":
        return None
    boundary = options.get(b"boundary")
    return boundary if boundary and len(boundary) <= 70 else None


@dataclass
class Part:
    """One part's headers: its form name, and the filename when it is a file."""

    name: str
    filename: str | None
    content_type: str | None
    _form: MultipartForm = field(repr=False)

    def chunks(self) -> AsyncIterator[bytes]:
        """The part's data, one piece per network chunk read (the part must be current)."""
        return self._form._data(self)

    async def read(self, limit: int = MAX_FIELD_BYTES) -> bytes:
        """The whole part (a small field), refused beyond `limit` bytes."""
        data = bytearray()
        async for piece in self.chunks():
            data += piece
            if len(data) > limit:
                raise MultipartError(self.name, f"longer than {limit} bytes")
        return bytes(data)


#: (kind, data): a part's bytes for "data", its headers for "headers", else empty.
_Event = tuple[str, bytes | dict[str, bytes]]


class MultipartForm:
    """Parts of a multipart body read from `stream`, one after the other:

    form = MultipartForm(request.stream(), boundary)
    while (part := await form.next_part()) is not None:
        value = await part.read()     # or: async for chunk in part.chunks()
    """

    def __init__(self, stream: AsyncIterator[bytes], boundary: bytes) -> None:
        self._stream = stream
        self._events: list[_Event] = []
        self._position = 0
        self._finished = False
        self._count = 0
        self._current: Part | None = None
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": lambda: self._events.append(("part_end", b"")),
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_end": self._on_end,
            },
        )

    # ------------------------------------------------------------- parser callbacks

    def _on_part_begin(self) -> None:
        self._headers = {}
        self._events.append(("part_begin", b""))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", bytes(data[start:end])))

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        # The events of a whole network chunk are queued before any is looked at: each
        # part's headers travel with its event, not in a field the next part overwrites.
        self._events.append(("headers", dict(self._headers)))

    def _on_end(self) -> None:
        self._events.append(("end", b""))

    # ------------------------------------------------------------- reading

    async def _next(self) -> _Event:
        while self._position >= len(self._events):
            self._events.clear()
            self._position = 0
            try:
                chunk = await anext(self._stream)
            except StopAsyncIteration:
                raise MultipartError(
                    "body", "the multipart body ends before its last boundary"
                ) from None
            if not chunk:
                continue
            try:
                self._parser.write(chunk)
            except MultipartParseError:
                raise MultipartError("body", "not a well-formed multipart body") from None
        event = self._events[self._position]
        self._position += 1
        return event

    async def _data(self, part: Part) -> AsyncIterator[bytes]:
        """The part's data up to its end, coalesced per network chunk (nothing once read)."""
        while part is self._current:
            pending = bytearray()
            while self._position < len(self._events) and self._events[self._position][0] == "data":
                data = self._events[self._position][1]
                assert isinstance(data, bytes)
                pending += data
                self._position += 1
            if pending:
                yield bytes(pending)
                continue
            kind, _ = await self._next()
            if kind == "data":
                self._position -= 1  # coalesce it with what follows in the same chunk
                continue
            if kind == "part_end":
                self._current = None
                return
            raise MultipartError("body", f"unexpected {kind} inside a part")

    async def next_part(self) -> Part | None:
        """The next part (what the caller left unread of the previous one is skipped);
        None at the closing boundary."""
        if self._current is not None:
            async for _ in self._current.chunks():
                pass
            self._current = None
        if self._finished:
            return None
        kind, _ = await self._next()
        if kind == "end":
            self._finished = True
            return None
        if kind != "part_begin":
            raise MultipartError("body", "not a well-formed multipart body")
        headers: bytes | dict[str, bytes] = b""
        while kind != "headers":
            kind, headers = await self._next()
        self._count += 1
        if self._count > MAX_PARTS:
            raise MultipartError("body", f"more than {MAX_PARTS} parts")
        assert isinstance(headers, dict)
        self._current = self._part(headers)
        return self._current

    async def expect_end(self) -> None:
        """Read the rest of the body: nothing but the closing boundary may follow the
        current part (once its data was read)."""
        if await self.next_part() is not None:
            raise MultipartError("file", "the file must be the last part of the form")

    def _part(self, headers: dict[str, bytes]) -> Part:
        disposition = headers.get("content-disposition", b"")
        kind, options = parse_options_header(disposition)
        if kind != b"form-data" or b"name" not in options:
            raise MultipartError("body", "a part without a form-data Content-Disposition name")
        name = options[b"name"].decode("utf-8", "replace")
        filename = options.get(b"filename")
        content_type = headers.get("content-type")
        return Part(
            name=name,
            filename=filename.decode("utf-8", "replace") if filename is not None else None,
            content_type=content_type.decode("latin-1") if content_type else None,
            _form=self,
        )
