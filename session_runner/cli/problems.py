"""The HTTP API's errors, as the CLI says them: one line, the field named as the user typed it.

The API answers every error with an RFC 9457 problem (`session_runner.api.problems`):
`detail` says what went wrong and `errors` names each field at fault (`to`,
`Idempotency-Key`, `file` ...). A person at the terminal typed `--to`,
`--idempotency-key`, FILE: `problem_line` names the option instead, so the line
points at what to change. Pure; the CLI does not import the API's module (it
needs starlette, which the `cli` group does not bring).

Exit codes follow the other commands: 2 when the arguments (or the file they
name) are wrong and running again unchanged cannot help, 1 for everything else
(an unknown key, a pool that routes nothing, a backend that did not answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Final

#: `session_runner.api.problems`' problem types the CLI tells apart (the API's wire contract).
VALIDATION: Final = "urn:wafleet:problem:validation"
IDEMPOTENCY_CONFLICT: Final = "urn:wafleet:problem:idempotency-conflict"

EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2

#: The longest line a problem becomes (an unexpected body must not flood the terminal).
MAX_LINE: Final = 300

#: What to do about a status, when the problem itself does not say it.
HINTS: Final = {
    401: "check --api-key (or WAFLEET_API_KEY)",
}


class CommandError(Exception):
    """What stops a command: one line for stderr and the exit code."""

    def __init__(self, line: str, code: int = EXIT_FAILED) -> None:
        super().__init__(line)
        self.line = line
        self.code = code


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """`text` on one line, cut at `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else f"{flat[: limit - 1]}…"


def problem_line(status: int, body: object, fields: Mapping[str, str] | None = None) -> str:
    """One line for a problem answer: the first field at fault under the name the user gave
    it (`fields`: the API's field name → the CLI's option), or the detail, then the status.

    A body that is not a problem (a proxy's HTML page) says the status alone.
    """
    names = fields or {}
    problem: Mapping[str, object] = body if isinstance(body, Mapping) else {}
    raw = problem.get("errors")
    errors = [e for e in raw if isinstance(e, Mapping)] if isinstance(raw, list) else []
    detail = problem.get("detail")
    if errors:
        first = errors[0]
        field = str(first.get("field") or "body")
        message = first.get("message") or detail or "invalid"
        text = f"{names.get(field, field)}: {message}"
        if len(errors) > 1:
            text += f" (and {len(errors) - 1} more)"
    elif isinstance(detail, str) and detail:
        text = detail
    else:
        title = problem.get("title")
        text = title if isinstance(title, str) and title else _phrase(status)
    line = f"{text} (HTTP {status})"
    hint = HINTS.get(status)
    if hint:
        line += f"; {hint}"
    return one_line(line)


def problem_exit_code(status: int, body: object) -> int:
    """2 when the request itself was wrong (a field, the file, a reused Idempotency-Key with
    another message), 1 otherwise."""
    kind = body.get("type") if isinstance(body, Mapping) else None
    if kind in (VALIDATION, IDEMPOTENCY_CONFLICT) or status in (413, 415):
        return EXIT_USAGE
    return EXIT_FAILED


def redact(line: str, secret: str | None) -> str:
    """`line` with `secret` (the API key) replaced, should any text ever carry it."""
    if not secret:
        return line
    return line.replace(secret, "[API key]")
