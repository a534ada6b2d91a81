"""The one hierarchy of Kubernetes API errors, for the runner and the operator alike.

Shaped like kopf's own (`kopf._cogs.clients.errors`): a base `APIError` that
carries what the server said — the HTTP status and the Status object's reason
and message — and a subclass for each status callers decide on, so a caller
writes `except APINotFoundError:` instead of comparing numbers. Any other
status is the base class, told apart by `.status`.

Never in an error: request or response bodies beyond the Status message, nor
headers (a bearer token travels in one). The message is the server's, which
names objects and fields, not their values.

Network trouble (refused connections, TLS failures, timeouts) is not an API
error: it propagates from aiohttp as `aiohttp.ClientError` / `OSError` /
`TimeoutError`, as in kopf, for the caller to classify.
"""

from __future__ import annotations

import json


class APIError(Exception):
    """An answer other than 2xx: the status code and the server's reason and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"HTTP {status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status!r}, {self.reason!r}, {self.message!r})"

    @property
    def is_conflict(self) -> bool:
        """409: a resourceVersion precondition failed, or the object already exists."""
        return self.status == 409

    @property
    def is_not_found(self) -> bool:
        """404: the object (or its kind) does not exist."""
        return self.status == 404


class APIUnauthorizedError(APIError):
    """401: the credentials were refused (an expired token, a wrong certificate)."""


class APIForbiddenError(APIError):
    """403: authenticated, but RBAC does not allow this verb on this object."""


class APINotFoundError(APIError):
    """404: no such object, or no such kind served."""


class APIConflictError(APIError):
    """409: a stale resourceVersion, or creating an object that exists."""


class APIUnprocessableError(APIError):
    """422: the object is invalid, or changes a field fixed at creation."""


class APITooManyRequestsError(APIError):
    """429: throttled by API priority and fairness; retry later."""


class APIServerError(APIError):
    """5xx: the API server (or etcd, or a webhook behind it) failed; retry later."""


_BY_STATUS: dict[int, type[APIError]] = {
    401: APIUnauthorizedError,
    403: APIForbiddenError,
    404: APINotFoundError,
    409: APIConflictError,
    422: APIUnprocessableError,
    429: APITooManyRequestsError,
}


def error_class(status: int) -> type[APIError]:
    """The class an answer with `status` is raised as."""
    if status >= 500:
        return APIServerError
    return _BY_STATUS.get(status, APIError)


def error_for(status: int, reason: str, message: str) -> APIError:
    """The error for an answer whose status, reason and message are known."""
    return error_class(status)(status, reason, message)


def error_from_response(status: int, http_reason: str, text: str) -> APIError:
    """The error for a non-2xx answer: the Status object's reason and message when the
    body is one, else the HTTP reason phrase (never the body: it is not ours to log)."""
    reason, message = http_reason, ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        reason = str(body.get("reason") or reason)
        message = str(body.get("message") or "")
    return error_for(status, reason, message)


__all__ = [
    "APIConflictError",
    "APIError",
    "APIForbiddenError",
    "APINotFoundError",
    "APIServerError",
    "APITooManyRequestsError",
    "APIUnauthorizedError",
    "APIUnprocessableError",
    "error_class",
    "error_for",
    "error_from_response",
]
