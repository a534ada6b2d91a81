"""A backend the API needs did not answer: 503, logged with what is safe to log.

The answer names the backend only; the log adds the error's kind: our own
storage errors' messages (built to name a table and an error code), the API
server's Status reason and message (names objects, not values), botocore's
error code, or else the exception's type alone (an exception's text can quote
request parameters).
"""

from __future__ import annotations

import logging
from typing import Final

from session_runner.api.problems import ProblemError
from session_runner.events.delivery import DeliveryError
from session_runner.kube.errors import APIError
from session_runner.sender.ledger import LedgerError

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS: Final = 1


def kube_errors() -> tuple[type[BaseException], ...]:
    """What a read through `KubeClient` raises when the API server fails or is unreachable."""
    import aiohttp

    return (APIError, aiohttp.ClientError, OSError, TimeoutError)


def aws_errors() -> tuple[type[BaseException], ...]:
    """What a boto3 call (directly, or through the ledger and records) raises when AWS fails."""
    from botocore.exceptions import BotoCoreError, ClientError

    from session_runner.api.records import RecordsError

    return (LedgerError, DeliveryError, RecordsError, BotoCoreError, ClientError, OSError)


def safe_reason(error: BaseException) -> str:
    """What may be logged about `error`."""
    from botocore.exceptions import ClientError

    from session_runner.api.records import RecordsError

    if isinstance(error, LedgerError | DeliveryError | RecordsError | APIError):
        return str(error)
    if isinstance(error, ClientError):
        return f"AWS {error.response.get('Error', {}).get('Code', 'error')}"
    return type(error).__name__


def unavailable(what: str, error: BaseException, *, retry_hint: bool = False) -> ProblemError:
    """The 503 for `what` failing with `error` (logged here)."""
    log.error("%s unavailable: %s", what, safe_reason(error))
    hint = " Retry with the same Idempotency-Key: no second message is sent." if retry_hint else ""
    return ProblemError(
        503,
        f"{what} did not answer; try again.{hint}",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
