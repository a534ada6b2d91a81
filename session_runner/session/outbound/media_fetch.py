"""A media message's file, downloaded into the pod for the account's engine to send.

A vendor API takes a media URL and downloads it itself; WhatsApp Web and the
multi-device protocol upload a local file (`Engine.send_media`, a checked
`MediaRef`). For a session the runner does the vendor's part: GET the URL
through `safe_fetch.followed` (public addresses only, plus the allowed
networks; each redirect checked), stream it to a file in `directory` (the
pod's /tmp, an emptyDir) with WhatsApp's limit for the type as a hard cap,
hashing it on the way, and hand the engine a `MediaRef`. The caller deletes
the file after the send.

`download_refusal` (pure, table-tested) is what a download that cannot be sent
means for the message: a URL that answers 4xx, serves another type or more
bytes than WhatsApp takes will not get better (PERMANENT); no answer, 429 or
a 5xx may (RETRY: the message goes back to the queue).
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

import aiohttp

from session_runner.dispatcher.attempt import client_session
from session_runner.dispatcher.url_safety import Network
from session_runner.safe_fetch import FetchRefusedError, followed
from session_runner.sender.message import Media
from session_runner.sender.vendors.base import Outcome
from session_runner.session.engines.base import MediaRef

_CHUNK: Final = 64 * 1024
#: Codes a failed download records on the message (the ledger's and the API's).
MEDIA_UNAVAILABLE: Final = "media-unavailable"


@dataclass(frozen=True)
class Refusal:
    outcome: Outcome  # RETRY or PERMANENT
    reason: str


class MediaFetchError(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


def download_refusal(
    media: Media, status: int | None, content_type: str | None, length: int | None
) -> Refusal | None:
    """Why the answer to GET `media.url` will not be sent (None: send it). `status` None:
    no answer; `length` is the Content-Length if given, else the bytes read so far."""
    if status is None:
        return Refusal(Outcome.RETRY, "no answer")
    if status == 429 or status >= 500:
        return Refusal(Outcome.RETRY, f"answered HTTP {status}")
    if status >= 300:
        return Refusal(Outcome.PERMANENT, f"answered HTTP {status}")
    wrong_type = media.served_type_problem(content_type)
    if wrong_type is not None:
        return Refusal(Outcome.PERMANENT, wrong_type)
    return size_refusal(media, length)


def size_refusal(media: Media, length: int | None) -> Refusal | None:
    """More bytes than WhatsApp takes for the type (`length` None: not known yet)."""
    if length is not None and length > media.max_bytes:
        return Refusal(
            Outcome.PERMANENT,
            f"is over {media.max_bytes} bytes, WhatsApp's limit for {media.content_type}",
        )
    return None


def shown_name(url: str) -> str | None:
    """The name a document's recipients see: the URL path's last segment (None: none)."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return name or None


class MediaFetcher:
    """Downloads media URLs into `directory` (see the module docstring)."""

    def __init__(
        self,
        directory: Path | None = None,
        allowed: Sequence[Network] = (),
        timeout_s: float = 60.0,
    ) -> None:
        self.directory = directory or Path(tempfile.gettempdir())
        self.allowed = tuple(allowed)
        self.time_limits = aiohttp.ClientTimeout(total=timeout_s)

    async def fetch(self, media: Media) -> MediaRef:
        """The file behind `media.url`, checked; MediaFetchError says why not."""
        try:
            async with (
                client_session(self.allowed) as http,
                followed(http, "GET", str(media.url), self.allowed, self.time_limits) as answer,
            ):
                declared = answer.headers.get("Content-Length")
                refusal = download_refusal(
                    media,
                    answer.status,
                    answer.headers.get("Content-Type"),
                    int(declared) if declared and declared.isdigit() else None,
                )
                if refusal is not None:
                    raise MediaFetchError(refusal)
                return await self._save(media, answer)
        except FetchRefusedError as refused:
            raise MediaFetchError(Refusal(Outcome.PERMANENT, str(refused))) from None
        except TimeoutError:
            raise MediaFetchError(Refusal(Outcome.RETRY, "no answer in time")) from None
        except aiohttp.ClientError as error:
            raise MediaFetchError(Refusal(Outcome.RETRY, type(error).__name__)) from None

    async def _save(self, media: Media, answer: aiohttp.ClientResponse) -> MediaRef:
        """Stream the body to a new file, at most `media.max_bytes` (a server that said less
        and sends more is cut off), hashing as it goes. Chunks are small; the writes go to
        the page cache, so they stay on the loop."""
        digest = hashlib.sha256()
        size = 0
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115  (kept past this block on success)
            dir=self.directory, prefix="outbound-media-", delete=False
        )
        path = Path(handle.name)
        try:
            with handle:
                async for chunk in answer.content.iter_chunked(_CHUNK):
                    size += len(chunk)
                    too_large = size_refusal(media, size)
                    if too_large is not None:
                        raise MediaFetchError(too_large)
                    digest.update(chunk)
                    handle.write(chunk)
            if size == 0:
                raise MediaFetchError(Refusal(Outcome.PERMANENT, "is empty"))
        except BaseException:
            await asyncio.shield(asyncio.to_thread(path.unlink, missing_ok=True))
            raise
        return MediaRef(
            path=path,
            mime_type=media.content_type,
            size=size,
            sha256=digest.hexdigest(),
            filename=shown_name(str(media.url)),
        )
