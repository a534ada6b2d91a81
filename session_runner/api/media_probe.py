"""Whether a media URL holds what the message says, within WhatsApp's limits, before the
API accepts the message.

The vendor downloads a media file when it sends, long after `POST /v1/messages`
answered 202: a URL that is gone, serves another type, or holds 40 MB would
fail then, as a FAILED message the integrator has to poll for. One `HEAD`
now turns those into a 422 naming `media.url`.

`media_refusal` is the decision (pure, table-tested); `MediaProbe` makes the
request, through `safe_fetch.followed` (public addresses only, each redirect
checked: the API must not be a way to probe the cluster or the cloud's
metadata service), waiting at most `timeout_s`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from session_runner.dispatcher.attempt import client_session
from session_runner.dispatcher.url_safety import Network
from session_runner.safe_fetch import FetchRefusedError, followed
from session_runner.sender.message import MB, Media


@dataclass(frozen=True)
class MediaFacts:
    """What the media's server answered a HEAD with (status None: no answer, `error` why)."""

    status: int | None
    content_type: str | None = None
    length: int | None = None
    error: str | None = None


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB"


def media_refusal(media: Media, facts: MediaFacts) -> str | None:
    """Why `media` cannot be sent as its server describes it (None: it can)."""
    if facts.status is None:
        return f"could not be fetched: {facts.error or 'no answer'}"
    if facts.status >= 400:
        return f"answered HTTP {facts.status}"
    wrong_type = media.served_type_problem(facts.content_type)
    if wrong_type is not None:
        return wrong_type
    if facts.length is None:
        return "does not say its size (no Content-Length): WhatsApp's limits cannot be checked"
    if facts.length > media.max_bytes:
        return (
            f"is {_megabytes(facts.length)}; WhatsApp takes at most "
            f"{_megabytes(media.max_bytes)} of {media.content_type}"
        )
    if facts.length == 0:
        return "is empty"
    return None


class MediaProbe:
    """HEADs media URLs on public addresses (plus `allowed` networks)."""

    def __init__(self, allowed: Sequence[Network] = (), timeout_s: float = 5.0) -> None:
        self.allowed = tuple(allowed)
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def facts(self, url: str) -> MediaFacts:
        try:
            async with (
                client_session(self.allowed) as http,  # the dispatcher's: safe resolver
                followed(http, "HEAD", url, self.allowed, self.timeout) as answer,
            ):
                length = answer.headers.get("Content-Length")
                return MediaFacts(
                    status=answer.status,
                    content_type=answer.headers.get("Content-Type"),
                    length=int(length) if length and length.isdigit() else None,
                )
        except FetchRefusedError as refused:
            return MediaFacts(status=None, error=str(refused))
        except TimeoutError:
            return MediaFacts(status=None, error="no answer in time")
        except (aiohttp.ClientError, ValueError) as error:
            return MediaFacts(status=None, error=type(error).__name__)
