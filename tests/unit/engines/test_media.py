"""The one media check of every engine: size, sha256, MIME allow-list, magic bytes, no executables."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_runner.session.engines.events import MediaRef
from session_runner.session.engines.media import check_media, read_media, sniff_mime

PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 100
FAMILIES = ("image", "application", "audio")


def _media(tmp_path: Path, content: bytes, mime: str) -> MediaRef:
    path = tmp_path / "file.bin"
    path.write_bytes(content)
    return MediaRef.from_file(path, mime)


@pytest.mark.parametrize(
    ("content", "mime", "max_bytes", "refusal"),
    [
        (PNG, "image/png", 1000, None),
        (b"OggS" + bytes(100), "audio/ogg", 1000, None),
        (b"\0\0\0\x18ftypM4A " + bytes(40), "audio/mp4", 1000, None),  # m4a: an mp4 container
        (b"plain words", "application/octet-stream", 1000, None),
        (PNG, "image/png", 10, "limit"),
        (PNG, "video/mp4", 1000, "not allowed"),
        (PNG, "audio/ogg", 1000, "looks like"),
        (b"\x7fELF" + bytes(60), "application/pdf", 1000, "executable"),
        (b"MZ" + bytes(60), "image/png", 1000, "executable"),
    ],
)
def test_media_checks(
    tmp_path: Path, content: bytes, mime: str, max_bytes: int, refusal: str | None
) -> None:
    media = _media(tmp_path, content, mime)
    for check in (check_media, read_media):
        if refusal is None:
            check(media, max_bytes=max_bytes, families=FAMILIES)
        else:
            with pytest.raises(ValueError, match=refusal):
                check(media, max_bytes=max_bytes, families=FAMILIES)


def test_read_media_returns_the_checked_bytes(tmp_path: Path) -> None:
    media = _media(tmp_path, PNG * 20_000, "image/png")  # over one 1 MiB chunk
    assert read_media(media, max_bytes=10 << 20, families=FAMILIES) == PNG * 20_000


def test_a_file_changed_or_gone_since_its_ref(tmp_path: Path) -> None:
    media = _media(tmp_path, PNG, "image/png")
    media.path.write_bytes(PNG[:-1] + b"y")
    with pytest.raises(ValueError, match="changed"):
        check_media(media, families=FAMILIES)
    media.path.write_bytes(PNG + b"more")
    with pytest.raises(ValueError, match="bytes"):
        check_media(media, families=FAMILIES)
    media.path.unlink()
    with pytest.raises(ValueError, match="does not exist"):
        read_media(media, families=FAMILIES)


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"%PDF-1.7", "application/pdf"),
        (b"\x7fELF\x02", "application/x-executable"),
        (b"plain text", None),
    ],
)
def test_sniff(head: bytes, mime: str | None) -> None:
    assert sniff_mime(head) == mime
