"""Kubernetes API errors as the real API server reports them.

Clients branch on `code` and `reason` (kopf treats 409/422 differently, the
kubernetes clients raise ApiException with the body), so every failure is a
proper `Status` object with the same code, reason, message and details a
real kube-apiserver would send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .resources import ResourceType

# One field-level problem, as in `details.causes` of a 422 Invalid Status.
Cause = dict[str, str]


class ApiError(Exception):
    """A request the API server refuses; `status()` is the response body."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The `Status` object a real API server sends for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _resource_details(rt: ResourceType, name: str) -> dict[str, Any]:
    # Real servers name the resource (plural) in details.kind, not the Kind.
    details: dict[str, Any] = {"name": name, "kind": rt.plural}
    if rt.group:
        details["group"] = rt.group
    return details


def _qualified(rt: ResourceType) -> str:
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{_qualified(rt)} "{name}" not found', _resource_details(rt, name)
    )


def namespace_not_found(namespace: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'namespaces "{namespace}" not found',
        {"name": namespace, "kind": "namespaces"},
    )


def no_such_route() -> ApiError:
    """What a real server answers for a path that names no known resource."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(rt)} "{name}" already exists',
        _resource_details(rt, name),
    )


MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def conflict(rt: ResourceType, name: str, why: str | None = None) -> ApiError:
    why = why or MODIFIED
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(rt)} "{name}": {why}',
        _resource_details(rt, name),
    )


def invalid(rt: ResourceType, name: str, causes: list[Cause]) -> ApiError:
    """422 Invalid, the answer to a failed validation (one cause per field)."""
    summary = ", ".join(f"{c['field']}: {c['message']}" for c in causes)
    details: dict[str, Any] = {"name": name, "kind": rt.kind, "causes": causes}
    if rt.group:
        details["group"] = rt.group
    kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {summary}', details)


def cause(field: str, reason: str, message: str) -> Cause:
    """A `details.causes` entry: reason is e.g. FieldValueRequired, FieldValueInvalid, FieldValueForbidden."""
    return {"reason": reason, "message": message, "field": field}


def unprocessable(message: str) -> ApiError:
    """422 without a field (how the server reports a JSON patch that cannot apply)."""
    return ApiError(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
        {"causes": [{"message": message}]},
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(rt: ResourceType, name: str, why: str) -> ApiError:
    return ApiError(
        403,
        "Forbidden",
        f'{_qualified(rt)} "{name}" is forbidden: {why}',
        _resource_details(rt, name),
    )


def method_not_allowed() -> ApiError:
    return ApiError(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        {},
    )


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}",
        {},
    )


def gone(requested: int, oldest: int) -> ApiError:
    """The watch answer for a resourceVersion older than the kept history."""
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


# Fault injection answers with these, so a 409/500/504 looks like the real one.
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Gone",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def generic(code: int, message: str | None = None) -> ApiError:
    """A Status for an arbitrary code (used by fault injection)."""
    reason = _REASONS.get(code, "Unknown")
    return ApiError(code, reason, message or f"injected fault: {reason} ({code})", {})
