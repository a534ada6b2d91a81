"""One delivery attempt: a signed POST, bounded in time and in what is read back.

aiohttp, the runner's one HTTP client (the senders' vendor calls use it too),
with `url_safety.SafeResolver` as its resolver. Redirects are not followed
(a POST that is redirected would change method, and a redirect could point
anywhere: the address check covers the URL as written). Of the answer only
the status and Retry-After matter; at most `MAX_ANSWER_BYTES` of the body are
read, so a subscriber answering with an endless body costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from session_runner.dispatcher.retry_decision import Answer, Failure
from session_runner.dispatcher.url_safety import (
    Network,
    RefusedAddressError,
    SafeResolver,
    host_refusal,
)
from session_runner.retry_after import parse_retry_after

MAX_ANSWER_BYTES: Final = 4096


def client_session(allowed: Sequence[Network] = ()) -> aiohttp.ClientSession:
    """The session every attempt goes through: safe resolution, a connection pool per host."""
    connector = aiohttp.TCPConnector(resolver=SafeResolver(allowed), limit=0, limit_per_host=0)
    return aiohttp.ClientSession(connector=connector, auto_decompress=False)


async def attempt(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout_s: float,
    allowed: Sequence[Network] = (),
) -> Answer:
    """POST `body` to `url`; the answer, or why there was none. Never raises for the network."""
    reason = host_refusal(urlsplit(url).hostname or "", allowed)
    if reason is not None:
        return Answer(failure=Failure.REFUSED_ADDRESS, detail=reason)
    try:
        async with session.post(
            url,
            data=body,
            headers=dict(headers),
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            await response.content.read(MAX_ANSWER_BYTES)
            retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
            return Answer(status=response.status, retry_after_s=retry_after)
    except aiohttp.ClientConnectorError as error:
        if isinstance(error.os_error, RefusedAddressError):
            return Answer(failure=Failure.REFUSED_ADDRESS, detail=str(error.os_error))
        return Answer(failure=Failure.CONNECT, detail=type(error).__name__)
    except TimeoutError:
        return Answer(failure=Failure.TIMEOUT)
    except (aiohttp.ClientError, OSError) as error:
        return Answer(failure=Failure.BROKEN, detail=type(error).__name__)
