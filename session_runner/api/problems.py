"""Every error the API answers is an RFC 9457 problem: `application/problem+json`.

    {"type": "urn:wafleet:problem:validation", "title": "Invalid request", "status": 422,
     "detail": "1 field is invalid", "instance": "/v1/messages",
     "errors": [{"field": "to", "in": "body", "message": "String should match pattern ..."}]}

`errors` names each bad field and where it was (body, query, header, path),
so a client can point at it. Nothing a request carried is ever echoed: the
messages are pydantic's and ours, which describe the rule, not the value
(an API key pasted into the wrong field must not come back in the answer or
land in a log); an unknown field's name is the client's, and is shown cut when
it is longer than field names are (`shown_name`).

The rendering is pure (`problem_body`, `field_errors`); `ProblemError` is what
route code raises, and `session_runner.api.app` installs the handlers that
turn it, FastAPI's validation errors and Starlette's HTTP errors (unknown
route, wrong method) into problem responses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"

#: RFC 9457: "about:blank" says the problem is what the status code says, no more.
BLANK: Final = "about:blank"
VALIDATION: Final = "urn:wafleet:problem:validation"
IDEMPOTENCY_CONFLICT: Final = "urn:wafleet:problem:idempotency-conflict"
NOT_ROUTABLE: Final = "urn:wafleet:problem:not-routable"
NOT_AWAITING_LOGIN: Final = "urn:wafleet:problem:not-awaiting-login"

Location = Literal["body", "query", "header", "path"]
_LOCATIONS: Final = frozenset({"body", "query", "header", "path"})


class FieldError(BaseModel):
    """One bad field: its name (dotted path in the body, e.g. `to`), where it was, why."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    field: str = Field(description="The field's name; `body` for the body as a whole.")
    in_: Location = Field(alias="in", description="body, query, header or path.")
    message: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "in": self.in_, "message": self.message}


class Problem(BaseModel):
    """RFC 9457 problem details, with `errors` naming the fields at fault."""

    model_config = ConfigDict(frozen=True)

    type: str = Field(default=BLANK, description="A URI identifying the kind of problem.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What went wrong this time.")
    instance: str | None = Field(default=None, description="The request path it happened on.")
    errors: list[FieldError] = Field(default_factory=list, description="The fields at fault.")


class ProblemError(Exception):
    """Raised by route code: answered as a problem with this status."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        type_: str = BLANK,
        title: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or HTTPStatus(status).phrase)
        self.status = status
        self.detail = detail
        self.type = type_
        self.title = title
        self.errors = tuple(errors)
        self.headers = dict(headers or {})


def invalid(field: str, message: str, *, in_: Location = "body", status: int = 422) -> ProblemError:
    """A 422 (or `status`) naming one field."""
    return ProblemError(
        status,
        f"{field}: {message}",
        type_=VALIDATION,
        title="Invalid request",
        errors=[FieldError(field=field, in_=in_, message=message)],
    )


def problem_body(
    status: int,
    *,
    detail: str | None = None,
    type_: str = BLANK,
    title: str | None = None,
    instance: str | None = None,
    errors: Iterable[FieldError] = (),
) -> dict[str, Any]:
    """The JSON of a problem; the title is the status's phrase unless given (RFC 9457 asks
    that an about:blank problem's title be exactly that)."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": type_,
        "title": phrase if type_ == BLANK or not title else title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body["errors"] = [error.as_json() for error in errors]
    return body


#: A name a client chose (an unknown field) longer than this is shown cut: field names are
#: words, and a long one is more likely something pasted in the wrong place (a key).
MAX_SHOWN_NAME: Final = 24
SHOWN_PREFIX: Final = 8


def shown_name(part: str) -> str:
    """`part` as an answer may show it: whole when short, else its first characters."""
    if len(part) <= MAX_SHOWN_NAME:
        return part
    return f"{part[:SHOWN_PREFIX]}… ({len(part)} characters)"


def field_name(parts: Sequence[object]) -> str:
    """`("history", 0, "at")` → `history[0].at`; nothing → `body`. Names are shown cut
    when long (`shown_name`)."""
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            shown = shown_name(str(part))
            name += f".{shown}" if name else shown
    return name or "body"


def field_error(error: Mapping[str, Any], default_in: Location = "body") -> FieldError:
    """One of pydantic's (or FastAPI's) error dicts as a `FieldError`, never quoting the input."""
    loc = list(error.get("loc") or ())
    where: Location = default_in
    if loc and loc[0] in _LOCATIONS:
        where = loc.pop(0)
    kind = str(error.get("type") or "")
    message = str(error.get("msg") or "invalid")
    if kind == "json_invalid":
        cause = str((error.get("ctx") or {}).get("error") or "not JSON")
        return FieldError(field="body", in_="body", message=f"malformed JSON: {cause}")
    field = field_name([part for part in loc if isinstance(part, str | int)])
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "required"
    return FieldError(field=field, in_=where, message=message)


def field_errors(
    errors: Iterable[Mapping[str, Any]], default_in: Location = "body"
) -> list[FieldError]:
    """Every error, in order, one per (field, message): pydantic reports a field once per
    union branch, which says the same thing twice."""
    seen: set[tuple[str, str, str]] = set()
    out: list[FieldError] = []
    for error in errors:
        item = field_error(error, default_in)
        key = (item.field, item.in_, item.message)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def validation_detail(errors: Sequence[FieldError]) -> str:
    """One line: the first field's name and message, and how many more there are."""
    if not errors:
        return "the request is invalid"
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first.field}: {first.message}{more}"


def problem_response(
    status: int,
    *,
    instance: str | None,
    detail: str | None = None,
    type_: str = BLANK,
    title: str | None = None,
    errors: Iterable[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The response of a problem, `application/problem+json`."""
    body = problem_body(
        status, detail=detail, type_=type_, title=title, instance=instance, errors=errors
    )
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def response_of(problem: ProblemError, instance: str | None) -> JSONResponse:
    return problem_response(
        problem.status,
        instance=instance,
        detail=problem.detail,
        type_=problem.type,
        title=problem.title,
        errors=problem.errors,
        headers=problem.headers,
    )
