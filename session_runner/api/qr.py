"""An account's login QR code as a PNG image or as terminal text. Pure.

`qrcode` computes the modules (its image backends need Pillow or pypng, which
the runner image does not carry); the PNG is written here: an 8-bit grayscale
image, one filter byte and a row of pixels per line, zlib-compressed, in the
three chunks every decoder reads (IHDR, IDAT, IEND). That is the whole of
what a QR image needs, and smaller than a dependency.

Which one a client gets: `?format=png|text` when given, else its Accept
header (`choose_format`): PNG unless text/plain is preferred; 406 when it
accepts neither.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from typing import Final, Literal

import qrcode

Format = Literal["png", "text"]
PNG_MEDIA_TYPE: Final = "image/png"
TEXT_MEDIA_TYPE: Final = "text/plain"
#: Pixels per module, and modules of quiet zone around the code (the standard's 4).
BOX_PIXELS: Final = 8
BORDER_MODULES: Final = 4
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"


def _code(payload: str, border: int) -> qrcode.QRCode:
    code = qrcode.QRCode(border=border)
    code.add_data(payload)
    code.make(fit=True)
    return code


def qr_text(payload: str) -> str:
    """The QR code as terminal text: two modules per character row (half blocks), light
    on dark inverted so it scans from a dark terminal."""
    out = io.StringIO()
    _code(payload, border=2).print_ascii(out=out, invert=True)
    return out.getvalue()


def qr_matrix(payload: str, border: int = BORDER_MODULES) -> list[list[bool]]:
    """The modules, quiet zone included; True is dark."""
    return [list(row) for row in _code(payload, border).get_matrix()]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_of(matrix: Sequence[Sequence[bool]], box: int = BOX_PIXELS) -> bytes:
    """A grayscale PNG of `matrix`, each module `box` pixels square, dark modules black."""
    if not matrix or not matrix[0] or box < 1:
        raise ValueError("an empty image")
    width = len(matrix[0]) * box
    rows = bytearray()
    for line in matrix:
        pixels = b"".join((b"\x00" if dark else b"\xff") * box for dark in line)
        row = b"\x00" + pixels  # filter type 0 (None)
        rows += row * box
    header = struct.pack(">IIBBBBB", width, len(matrix) * box, 8, 0, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )


def qr_png(payload: str) -> bytes:
    return png_of(qr_matrix(payload))


def _accepted(accept: str) -> dict[str, float]:
    """Media ranges of an Accept header with their q (RFC 9110); bad q values count as 0."""
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(1.0, max(0.0, float(value)))
                except ValueError:
                    quality = 0.0
        media = media.lower()
        ranges[media] = max(quality, ranges.get(media, 0.0))
    return ranges


def _quality(ranges: dict[str, float], media: str) -> float:
    kind = media.split("/", 1)[0]
    for candidate in (media, f"{kind}/*", "*/*"):
        if candidate in ranges:
            return ranges[candidate]
    return 0.0


def choose_format(format_param: Format | None, accept: str | None) -> Format | None:
    """`format_param` when given; else the Accept header's preference (PNG on a tie, and
    without a header); None when the client accepts neither (406)."""
    if format_param is not None:
        return format_param
    if not accept or not accept.strip():
        return "png"
    ranges = _accepted(accept)
    png, text = _quality(ranges, PNG_MEDIA_TYPE), _quality(ranges, TEXT_MEDIA_TYPE)
    if png <= 0 and text <= 0:
        return None
    return "text" if text > png else "png"
