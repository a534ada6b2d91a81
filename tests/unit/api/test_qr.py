"""The login QR: which format a client gets, and the PNG's pixels (read by Pillow)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from session_runner.api.qr import Format, choose_format, png_of, qr_matrix, qr_png, qr_text

PAYLOAD = "2@AbCdEf0123456789,ghIJkl+mnOP/qrs=,tuvWXyz0123=,ABCdef456="


@pytest.mark.parametrize(
    ("param", "accept", "chosen"),
    [
        (None, None, "png"),
        (None, "", "png"),
        (None, "*/*", "png"),
        (None, "image/png", "png"),
        (None, "text/plain", "text"),
        (None, "text/*", "text"),
        (None, "text/plain, image/png", "png"),  # a tie: PNG
        (None, "text/plain;q=0.9, image/png;q=0.5", "text"),
        (None, "image/*;q=0.2, text/plain;q=0.1", "png"),
        (None, "application/json", None),
        (None, "text/plain;q=0, image/png;q=0", None),
        (None, "text/plain;q=abc", None),
        ("text", "image/png", "text"),  # the query parameter wins
        ("png", "text/plain", "png"),
    ],
)
def test_choose_format(param: Format | None, accept: str | None, chosen: Format | None) -> None:
    assert choose_format(param, accept) == chosen


def test_the_png_has_each_module_as_a_square_of_pixels() -> None:
    matrix = qr_matrix(PAYLOAD)
    image = Image.open(io.BytesIO(qr_png(PAYLOAD)))
    image.load()
    assert image.mode == "L"
    assert image.size == (len(matrix[0]) * 8, len(matrix) * 8)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            corner = image.getpixel((x * 8, y * 8))
            centre = image.getpixel((x * 8 + 7, y * 8 + 7))
            assert corner == centre == (0 if dark else 255)


def test_the_matrix_has_a_quiet_zone() -> None:
    matrix = qr_matrix(PAYLOAD)
    assert not any(matrix[0])
    assert not any(row[0] for row in matrix)


def test_an_empty_image_is_refused() -> None:
    with pytest.raises(ValueError, match="empty image"):
        png_of([])


def test_the_text_drawing_uses_half_blocks() -> None:
    drawing = qr_text(PAYLOAD)
    assert set(drawing) <= {"█", "▀", "▄", " ", "\xa0", "\n"}  # qrcode pads with NBSP
    assert len(drawing.splitlines()) == (len(qr_matrix(PAYLOAD, border=2)) + 1) // 2
