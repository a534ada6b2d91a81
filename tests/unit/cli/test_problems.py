"""An API problem at the terminal: one line naming the option the user typed, and its exit code."""

from __future__ import annotations

from typing import Any

import pytest

from session_runner.cli.problems import (
    EXIT_FAILED,
    EXIT_USAGE,
    one_line,
    problem_exit_code,
    problem_line,
    redact,
)

SEND = {"to": "--to", "target": "--pool", "Idempotency-Key": "--idempotency-key"}
VALIDATION = "urn:wafleet:problem:validation"


def problem(
    status: int, detail: str | None = None, *errors: tuple[str, str], **extra: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": extra.get("type", "about:blank"),
        "title": "t",
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["errors"] = [{"field": f, "in": "body", "message": m} for f, m in errors]
    return body


@pytest.mark.parametrize(
    ("status", "body", "line"),
    [
        (
            422,
            problem(422, "to: String should match pattern", ("to", "String should match pattern")),
            "--to: String should match pattern (HTTP 422)",
        ),
        (
            422,
            problem(422, "2 fields", ("to", "required"), ("text", "required")),
            "--to: required (and 1 more) (HTTP 422)",
        ),
        (  # a field the command has no option for keeps the API's name
            422,
            problem(422, None, ("history[0].at", "bad")),
            "history[0].at: bad (HTTP 422)",
        ),
        (
            409,
            problem(409, "reused", ("Idempotency-Key", "already used for a different message")),
            "--idempotency-key: already used for a different message (HTTP 409)",
        ),
        (
            401,
            problem(401, "this API key is not known"),
            "this API key is not known (HTTP 401); check --api-key (or WAFLEET_API_KEY)",
        ),
        (404, problem(404, "no bulk job nope"), "no bulk job nope (HTTP 404)"),
        (503, {"title": "Service Unavailable"}, "Service Unavailable (HTTP 503)"),
        (502, "<html>bad gateway</html>", "Bad Gateway (HTTP 502)"),  # a proxy's page
        (599, None, "error (HTTP 599)"),
        (  # an error entry without a message falls back to the detail
            422,
            {"detail": "the CSV is empty", "errors": [{"field": "file"}]},
            "file: the CSV is empty (HTTP 422)",
        ),
        (422, {"detail": "x", "errors": "not a list"}, "x (HTTP 422)"),
    ],
)
def test_problem_line(status: int, body: object, line: str) -> None:
    assert problem_line(status, body, SEND) == line


def test_a_long_or_multiline_detail_stays_one_bounded_line() -> None:
    line = problem_line(500, {"detail": "a\nb " + "x" * 1000})
    assert "\n" not in line
    assert len(line) <= 300
    assert one_line("a \n\t b") == "a b"


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (422, {"type": VALIDATION}, EXIT_USAGE),  # a field is wrong: running again cannot help
        (409, {"type": "urn:wafleet:problem:idempotency-conflict"}, EXIT_USAGE),
        (413, {}, EXIT_USAGE),  # the file is too large
        (415, None, EXIT_USAGE),
        (422, {"type": "urn:wafleet:problem:not-routable"}, EXIT_FAILED),  # no pool takes it
        (401, {}, EXIT_FAILED),
        (403, {}, EXIT_FAILED),
        (404, {}, EXIT_FAILED),
        (503, {}, EXIT_FAILED),
        (500, "html", EXIT_FAILED),
    ],
)
def test_problem_exit_code(status: int, body: object, code: int) -> None:
    assert problem_exit_code(status, body) == code


@pytest.mark.parametrize(
    ("line", "secret", "shown"),
    [
        ("bad key wfk_abc in header", "wfk_abc", "bad key [API key] in header"),
        ("nothing secret", "wfk_abc", "nothing secret"),
        ("no key given", None, "no key given"),
        ("empty key", "", "empty key"),
    ],
)
def test_redact(line: str, secret: str | None, shown: str) -> None:
    assert redact(line, secret) == shown
