"""How the operator retries a failed API call: one pure rule for every handler.

The account handler hands its answer to kopf (a `TemporaryError` with this
delay, or a `PermanentError`), the drift handler sleeps on it for a few
attempts before leaving the account to the periodic resync. Both ask the same
question: can waiting fix this, and how long to wait. (Deleting snapshots has
its own budget per obstacle, `deletion_policy.py`: it waits for people and
runners, not only for the API server.)
"""

from __future__ import annotations

from typing import Final

import kopf

from wafleet_operator.kube import KubeError

#: Answers a retry can fix: no answer (0), conflicts, throttling, server trouble.
RETRYABLE: Final = frozenset({0, 409, 429, 500, 502, 503, 504})
FIRST_DELAY_S: Final = 0.5
MAX_DELAY_S: Final = 30.0


def api_retry_delay(status: int, attempt: int) -> float | None:
    """Seconds to wait after failed attempt number `attempt` (1-based); None: do not retry.

    Refusals a retry cannot change (400, 401, 403, 404, 422 …) get None at
    once; the rest back off exponentially from `FIRST_DELAY_S`, capped at
    `MAX_DELAY_S` so a long outage is polled twice a minute, not hammered.
    """
    if status not in RETRYABLE:
        return None
    delay: float = FIRST_DELAY_S * 2 ** (max(attempt, 1) - 1)
    return min(delay, MAX_DELAY_S)


def kopf_outcome(error: KubeError, retry: int) -> kopf.TemporaryError | kopf.PermanentError:
    """What a handler raises for an API error: kopf retries it after `api_retry_delay`,
    or gives up on it. `retry` is kopf's count of the handler's earlier failed calls."""
    delay = api_retry_delay(error.status, retry + 1)
    if delay is None:
        return kopf.PermanentError(f"API refused a write: {error}")
    return kopf.TemporaryError(f"API error, retrying: {error}", delay=delay)
