"""Requests to URLs that users give us, only to where they may go.

A media URL in a message is fetched twice: the API HEADs it before accepting
the message (`api.media_probe`) and, for an account's session, the runner GETs
it to send the file (`session.outbound.media_fetch`). Either would otherwise be
a way to make wafleet call into the cluster or the cloud's metadata service.
Both go through `followed`: the dispatcher's safe resolver (`url_safety`:
public addresses only, plus `allowed` networks) on the dispatcher's client
session, redirects followed by hand so each hop's host is checked (aiohttp's
resolver never sees an IP literal), at most MAX_REDIRECTS of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Final
from urllib.parse import urljoin, urlsplit

import aiohttp

from session_runner.dispatcher.url_safety import Network, RefusedAddressError, host_refusal

MAX_REDIRECTS: Final = 3
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


class FetchRefusedError(Exception):
    """The URL (or a redirect) points where it may not go, or redirects too often."""


@contextlib.asynccontextmanager
async def followed(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    allowed: Sequence[Network],
    time_limits: aiohttp.ClientTimeout,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """The answer to `method url` after its redirects; FetchRefusedError when a hop may not
    be fetched (aiohttp's own errors, TimeoutError, pass through)."""
    for _ in range(MAX_REDIRECTS + 1):
        refusal = host_refusal(urlsplit(url).hostname or "", allowed)
        if refusal is not None:
            raise FetchRefusedError(f"not a public address ({refusal})")
        try:
            answer = await http.request(method, url, allow_redirects=False, timeout=time_limits)
        except aiohttp.ClientConnectorError as error:  # the resolver's refusal is wrapped
            if isinstance(error.os_error, RefusedAddressError):
                raise FetchRefusedError(f"not a public address ({error.os_error})") from None
            raise
        location = answer.headers.get("Location")
        if answer.status in REDIRECTS and location:
            answer.release()
            url = urljoin(url, location)
            continue
        try:
            yield answer
        finally:
            answer.release()
        return
    raise FetchRefusedError(f"more than {MAX_REDIRECTS} redirects")
