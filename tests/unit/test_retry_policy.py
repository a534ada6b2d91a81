"""`api_retry_delay`: the operator's one answer to a failed API call."""

from __future__ import annotations

import kopf
import pytest

from session_runner.kube.errors import APIError
from wafleet_operator.handlers.retry_policy import MAX_DELAY_S, api_retry_delay, kopf_outcome


@pytest.mark.parametrize(
    ("case", "status", "attempt", "delay"),
    [
        ("no answer from the server", 0, 1, 0.5),
        ("a conflict, first failure", 409, 1, 0.5),
        ("a conflict, second failure", 409, 2, 1.0),
        ("throttled, third failure", 429, 3, 2.0),
        ("server trouble, a long outage: capped", 503, 20, MAX_DELAY_S),
        ("kopf's first call counts as attempt 1 even if told 0", 500, 0, 0.5),
        ("malformed request", 400, 1, None),
        ("credentials refused", 401, 1, None),
        ("RBAC refuses the write", 403, 1, None),
        ("gone", 404, 1, None),
        ("the schema refuses the object", 422, 3, None),
    ],
)
def test_api_retry_delay(case: str, status: int, attempt: int, delay: float | None) -> None:
    assert api_retry_delay(status, attempt) == delay, case


def test_the_kopf_outcome_of_an_api_error() -> None:
    retried = kopf_outcome(APIError(409, "Conflict", "changed"), retry=1)
    assert isinstance(retried, kopf.TemporaryError)
    assert retried.delay == 1.0  # the second failure
    assert isinstance(kopf_outcome(APIError(422, "Invalid", "no"), retry=0), kopf.PermanentError)
