"""One HTTP request to a vendor, reduced to an answer or to what its failure means.

The single question a failed request must answer is whether the vendor could
have received it. A connection that never opened (refused, DNS, TLS, connect
timeout) carried nothing: safe to retry. Anything after that (a reset, a
disconnect, a read timeout, the total deadline) may have happened after the
vendor read the whole request: UNKNOWN. aiohttp retries a dropped keep-alive
connection only for idempotent methods, so a POST is sent at most once; no
retries are added here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from session_runner.sender.vendors.base import Outcome, SendResult

log = logging.getLogger(__name__)

#: Bounded: a vendor that holds a request longer than this is treated as maybe-sent.
DEFAULT_TIMEOUT: Final = aiohttp.ClientTimeout(total=10.0, sock_connect=5.0)


@dataclass(frozen=True)
class HttpAnswer:
    """The vendor answered: status, raw body, and its Retry-After header if any."""

    status: int
    body: bytes
    retry_after: str | None = None

    def json(self) -> object:
        """The body as JSON; None when it is not JSON (an HTML error page, nothing)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class NoAnswer:
    """No answer. `written` False: the request cannot have reached the vendor."""

    written: bool
    reason: str


async def call(
    session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> HttpAnswer | NoAnswer:
    """Perform one request; network failures become `NoAnswer`, never exceptions.

    No redirect is followed: a vendor API that redirects a POST is misconfigured,
    and following it would change the method.
    """
    try:
        async with session.request(method, url, allow_redirects=False, **kwargs) as response:
            body = await response.read()
            return HttpAnswer(response.status, body, response.headers.get("Retry-After"))
    except (
        aiohttp.ClientConnectorError,
        aiohttp.ConnectionTimeoutError,
        aiohttp.InvalidURL,
        aiohttp.NonHttpUrlClientError,
    ) as exc:
        return NoAnswer(written=False, reason=f"could not connect ({type(exc).__name__})")
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return NoAnswer(written=True, reason=f"no answer after sending ({type(exc).__name__})")


def result_without_answer(no_answer: NoAnswer) -> SendResult:
    """A send that got no answer: RETRY if nothing left us, UNKNOWN otherwise."""
    outcome = Outcome.UNKNOWN if no_answer.written else Outcome.RETRY
    return SendResult(outcome, detail=no_answer.reason)


def log_result(vendor: str, message_id: str, result: SendResult) -> None:
    """One line per send; `detail` is already short and clean (`short_detail`)."""
    level = logging.DEBUG if result.outcome == Outcome.SENT else logging.INFO
    log.log(
        level,
        "vendor send: %s",
        result.outcome.value,
        extra={
            "vendor": vendor,
            "message_id": message_id,
            "outcome": result.outcome.value,
            "vendor_code": result.code,
            "vendor_message_id": result.vendor_message_id,
            "detail": result.detail,
            "retry_after_s": result.retry_after_s,
        },
    )


class OwnedSession:
    """An adapter's aiohttp session: the one passed in (left open), or its own, made on
    first use inside the running loop and closed by `close`. Credentials never go in it."""

    def __init__(
        self, session: aiohttp.ClientSession | None, timeout: aiohttp.ClientTimeout
    ) -> None:
        self._session = session
        self._owned = session is None
        self.timeout = timeout

    def get(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._owned and self._session is not None:
            await self._session.close()
            self._session = None
