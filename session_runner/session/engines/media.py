"""The one media check every engine runs before it sends a file: pure, blocking, strict.

An engine sends a file described by a `MediaRef` (path, size, sha256, MIME type)
made when the message was queued. Before it leaves, the file must still be that
file and must be what it claims: size limit, MIME family allow-list, sha256 of
the bytes, and a magic-byte sniff that refuses a declared image/video/audio
whose bytes say otherwise and any executable dressed up as something else.
One function for all engines, so no engine is laxer than another.

`check_media` streams the file (1 MiB chunks) and returns nothing (the browser
engine hands Chromium the path); `read_media` returns the bytes it checked
(the protocol engine uploads one buffer). Both block: call them in a thread.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from session_runner.session.engines.events import MediaRef

__all__ = [
    "DEFAULT_FAMILIES",
    "DEFAULT_MAX_BYTES",
    "check_declared",
    "check_head",
    "check_media",
    "read_media",
    "sniff_mime",
]

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_FAMILIES: tuple[str, ...] = ("image", "video", "audio", "application", "text")

#: Leading bytes of common formats: a declared MIME family that contradicts
#: what the bytes are is refused (a renamed executable is not an image).
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF8", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"%PDF-", 0, "application/pdf"),
    (b"ftyp", 4, "video/mp4"),
    (b"OggS", 0, "audio/ogg"),
    (b"ID3", 0, "audio/mpeg"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"\x7fELF", 0, "application/x-executable"),
    (b"MZ", 0, "application/x-msdownload"),
)
_HEAD = 64
_CHUNK = 1 << 20


def sniff_mime(head: bytes) -> str | None:
    """The MIME type the first bytes of a file announce, when they match a known signature."""
    for magic, offset, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime
    return None


def _family(mime_type: str) -> str:
    return mime_type.split("/", 1)[0].lower()


def check_declared(media: MediaRef, *, max_bytes: int, families: Iterable[str]) -> None:
    """What can be refused before reading a byte: MIME family not allowed, size over the limit."""
    allowed = tuple(families)
    if _family(media.mime_type) not in allowed:
        raise ValueError(f"MIME type {media.mime_type} is not allowed ({', '.join(allowed)})")
    if media.size > max_bytes:
        raise ValueError(f"media of {media.size} bytes is over the {max_bytes}-byte limit")


def check_head(media: MediaRef, head: bytes) -> None:
    """Refuse an executable, or an image/video/audio whose first bytes say it is something else."""
    sniffed = sniff_mime(head)
    if sniffed is None:
        return
    family = _family(media.mime_type)
    declared = media.mime_type.lower()
    if sniffed.startswith("application/x-") and declared != sniffed:
        raise ValueError(f"{media.path} is an executable ({sniffed}), not {declared}")
    m4a = sniffed == "video/mp4" and family == "audio"  # m4a is an mp4 container
    if family in ("image", "video", "audio") and _family(sniffed) != family and not m4a:
        raise ValueError(f"{media.path} looks like {sniffed}, not {declared}")


def _hashed(media: MediaRef, *, max_bytes: int, keep: bool) -> tuple[bytes, bytes]:
    """(first bytes, whole content if `keep`) after the size and sha256 checks."""
    digest = hashlib.sha256()
    size = 0
    parts: list[bytes] = []
    try:
        with media.path.open("rb") as handle:
            head = handle.read(_HEAD)
            for chunk in (head, *iter(lambda: handle.read(_CHUNK), b"")):
                digest.update(chunk)
                size += len(chunk)
                if size > max_bytes:
                    raise ValueError(f"{media.path} grew over the {max_bytes}-byte limit")
                if keep:
                    parts.append(chunk)
    except FileNotFoundError as missing:
        raise ValueError(f"media file {media.path} does not exist") from missing
    if size != media.size:
        raise ValueError(
            f"media file {media.path} is {size} bytes, its MediaRef says {media.size}: "
            "it changed since its MediaRef was made"
        )
    if digest.hexdigest() != media.sha256:
        raise ValueError(f"media file {media.path} changed since its MediaRef was made")
    return head, b"".join(parts)


def check_media(
    media: MediaRef,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    families: Iterable[str] = DEFAULT_FAMILIES,
) -> None:
    """Every check, streamed. Raises `ValueError` (the request is wrong). Blocking."""
    check_declared(media, max_bytes=max_bytes, families=families)
    head, _ = _hashed(media, max_bytes=max_bytes, keep=False)
    check_head(media, head)


def read_media(
    media: MediaRef,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    families: Iterable[str] = DEFAULT_FAMILIES,
) -> bytes:
    """Every check of `check_media`, and the bytes checked (read once). Blocking."""
    check_declared(media, max_bytes=max_bytes, families=families)
    head, data = _hashed(media, max_bytes=max_bytes, keep=True)
    check_head(media, head)
    return data
