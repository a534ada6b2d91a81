"""Problem details: the body RFC 9457 asks for, and each validation error naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from session_runner.api.problems import (
    BLANK,
    VALIDATION,
    FieldError,
    field_error,
    field_errors,
    field_name,
    problem_body,
    validation_detail,
)


def test_a_blank_problem_is_titled_by_its_status() -> None:
    assert problem_body(404, detail="no message x", instance="/v1/messages/x", title="Ignored") == {
        "type": BLANK,
        "title": "Not Found",
        "status": 404,
        "detail": "no message x",
        "instance": "/v1/messages/x",
        "errors": [],
    }


def test_a_typed_problem_keeps_its_title_and_errors() -> None:
    body = problem_body(
        422,
        type_=VALIDATION,
        title="Invalid request",
        errors=[FieldError(field="to", in_="body", message="required")],
    )
    assert body == {
        "type": VALIDATION,
        "title": "Invalid request",
        "status": 422,
        "errors": [{"field": "to", "in": "body", "message": "required"}],
    }


@pytest.mark.parametrize(
    ("parts", "name"),
    [((), "body"), (("to",), "to"), (("history", 0, "at"), "history[0].at"), ((0,), "[0]")],
)
def test_field_names(parts: tuple[object, ...], name: str) -> None:
    assert field_name(parts) == name


SECRET = "wfk_do-not-echo-me"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            {
                "type": "json_invalid",
                "loc": ("body", 12),
                "msg": "JSON decode error",
                "ctx": {"error": "Expecting value"},
                "input": SECRET,
            },
            FieldError(field="body", in_="body", message="malformed JSON: Expecting value"),
        ),
        (
            {
                "type": "extra_forbidden",
                "loc": ("body", "colour"),
                "msg": "Extra inputs",
                "input": SECRET,
            },
            FieldError(field="colour", in_="body", message="unknown field"),
        ),
        (
            {"type": "missing", "loc": ("body", "to"), "msg": "Field required"},
            FieldError(field="to", in_="body", message="required"),
        ),
        (
            {
                "type": "string_pattern_mismatch",
                "loc": ("header", "Idempotency-Key"),
                "msg": "String should match pattern '^x$'",
                "input": SECRET,
            },
            FieldError(
                field="Idempotency-Key", in_="header", message="String should match pattern '^x$'"
            ),
        ),
        (
            {"type": "literal_error", "loc": ("query", "format"), "msg": "Input should be 'png'"},
            FieldError(field="format", in_="query", message="Input should be 'png'"),
        ),
        (
            {"type": "string_type", "loc": ("target",), "msg": "Input should be a valid string"},
            FieldError(field="target", in_="body", message="Input should be a valid string"),
        ),
        (
            {"type": "model_attributes_type", "loc": ("body",), "msg": "Input should be an object"},
            FieldError(field="body", in_="body", message="Input should be an object"),
        ),
    ],
)
def test_validation_errors_name_the_field_and_never_the_input(
    error: dict[str, Any], expected: FieldError
) -> None:
    rendered = field_error(error)
    assert rendered == expected
    assert SECRET not in rendered.model_dump_json()


def test_repeated_errors_are_reported_once() -> None:
    error = {"type": "string_type", "loc": ("body", "to"), "msg": "Input should be a string"}
    assert len(field_errors([error, error])) == 1


@pytest.mark.parametrize(
    ("count", "detail"),
    [(0, "the request is invalid"), (1, "to: required"), (3, "to: required (and 2 more)")],
)
def test_validation_detail(count: int, detail: str) -> None:
    errors = [FieldError(field="to", in_="body", message="required")] * count
    assert validation_detail(errors) == detail


@pytest.mark.parametrize(
    ("service_field", "upload", "field"),
    [
        ("csv", True, "file"),
        ("csv", False, "url"),
        ("file", False, "url"),
        ("url", True, "file"),
        ("text", True, "text"),
        ("target", False, "target"),
    ],
)
def test_the_bulk_services_fields_are_named_as_the_request_has_them(
    service_field: str, upload: bool, field: str
) -> None:
    from session_runner.api.bulk import request_field

    assert request_field(service_field, upload=upload) == field
