"""The header and row rules of a bulk CSV, and the text's placeholders: table tests."""

from __future__ import annotations

import pytest

from session_runner.bulk.model import BulkInputError
from session_runner.bulk.rows import Header, RowProblem, ValidRow, check_header, validate_row
from session_runner.bulk.template import compile_template, placeholders
from session_runner.sender.message import MAX_TEXT_CHARS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("hello", (), id="none"),
        pytest.param("hi {{name}}", ("name",), id="one"),
        pytest.param("{{ name }} and {{name}}", ("name",), id="spaces, used twice: once"),
        pytest.param("{{b}} {{a}} {{b}}", ("b", "a"), id="in order of first use"),
        pytest.param("{{first name}}", ("first name",), id="a space inside a name"),
        pytest.param("{{}} {{ }} {{a{b}}", (), id="not placeholders: stay as written"),
        pytest.param("{{{x}}}", ("x",), id="extra braces around one"),
    ],
)
def test_placeholders(text: str, expected: tuple[str, ...]) -> None:
    assert placeholders(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("  \n", "empty", id="blank"),
        pytest.param("x" * (MAX_TEXT_CHARS + 1), "at most 4096", id="too long"),
    ],
)
def test_a_text_that_cannot_be_a_template_names_the_text(text: str, message: str) -> None:
    with pytest.raises(BulkInputError, match=message) as refused:
        compile_template(text)
    assert refused.value.field == "text"


def test_rendering_inserts_values_as_they_are() -> None:
    template = compile_template("Hi {{ name }}, {{code}}!")
    assert template.render({"name": "{{code}}", "code": "42"}) == "Hi {{code}}, 42!"


HEADER_TEXT = compile_template("Hi {{name}}")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param([], "csv", "no header row", id="no header"),
        pytest.param([""], "csv", "no header row", id="a blank header"),
        pytest.param(["name", "phone"], "csv", "no 'to' column", id="no to column"),
        pytest.param(["To", "name"], "csv", "no 'to' column", id="case matters"),
        pytest.param(["to", "", "name"], "csv", "column 2 has no name", id="an unnamed column"),
        pytest.param(["to", "name", " name"], "csv", "'name' appears more than once", id="dup"),
        pytest.param(["to", "first"], "text", r"\{\{name\}\} is not a column", id="placeholder"),
        pytest.param(["to", "name", *[f"c{i}" for i in range(9)]], "csv", "11 columns", id="cap"),
    ],
)
def test_a_header_that_cannot_make_a_job_is_refused_naming_the_field(
    fields: list[str], field: str, message: str
) -> None:
    with pytest.raises(BulkInputError, match=message) as refused:
        check_header(fields, HEADER_TEXT, max_columns=10, field="csv")
    assert refused.value.field == field


def test_a_good_header_knows_where_its_columns_are() -> None:
    header = check_header([" name ", "\ufefflike", "to"], HEADER_TEXT, max_columns=3, field="csv")
    assert header == Header(("name", "\ufefflike", "to"), to_index=2, used=(("name", 0),))


def test_the_field_of_a_header_refusal_is_the_one_given() -> None:
    with pytest.raises(BulkInputError) as refused:
        check_header(["name"], HEADER_TEXT, max_columns=5, field="url")
    assert refused.value.field == "url"


TEMPLATE = compile_template("Hi {{name}}, your code is {{code}}")
HEADER = check_header(["to", "name", "code"], TEMPLATE, max_columns=10, field="csv")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(
            ["+14155550123", "Ann", "7"],
            ValidRow("+14155550123", "Hi Ann, your code is 7"),
            id="valid",
        ),
        pytest.param(
            [" +14155550123 ", " Ann ", "7"],
            ValidRow("+14155550123", "Hi Ann, your code is 7"),
            id="values trimmed",
        ),
        pytest.param(
            ["+14155550123", "Ann"],
            RowProblem("code", "missing: the row has 2 fields, the header 3"),
            id="too few fields: the first missing column",
        ),
        pytest.param(
            ["+14155550123", "Ann", "7", ""],
            RowProblem("", "the row has 4 fields, the header 3"),
            id="too many fields",
        ),
        pytest.param(["", "Ann", "7"], RowProblem("to", "empty"), id="no phone"),
        pytest.param(
            ["14155550123", "Ann", "7"],
            RowProblem("to", "not an E.164 phone number (+, then 7 to 15 digits)"),
            id="no plus",
        ),
        pytest.param(
            ["+1 415 555 0123", "Ann", "7"],
            RowProblem("to", "not an E.164 phone number (+, then 7 to 15 digits)"),
            id="spaces inside",
        ),
        pytest.param(
            ["+0415555012", "Ann", "7"],
            RowProblem("to", "not an E.164 phone number (+, then 7 to 15 digits)"),
            id="leading zero",
        ),
        pytest.param(
            ["+1234567890123456", "Ann", "7"],
            RowProblem("to", "not an E.164 phone number (+, then 7 to 15 digits)"),
            id="16 digits",
        ),
        pytest.param(
            ["+14155550123", "  ", "7"],
            RowProblem("name", "empty (the text uses {{name}})"),
            id="an empty variable",
        ),
        pytest.param(
            ["+14155550123", "Ann", ""],
            RowProblem("code", "empty (the text uses {{code}})"),
            id="the second variable empty",
        ),
        pytest.param(
            ["+14155550123", "A" * 4080, "7"],
            RowProblem(
                "", "the text has 4099 characters after substitution; at most 4096 are allowed"
            ),
            id="too long after substitution",
        ),
    ],
)
def test_each_row_becomes_a_message_or_its_first_problem(
    values: list[str], expected: ValidRow | RowProblem
) -> None:
    assert validate_row(HEADER, values, TEMPLATE) == expected


def test_problems_never_quote_the_rows_values() -> None:
    secret = "+99999999999999999999"
    outcome = validate_row(HEADER, [secret, "Ann", "7"], TEMPLATE)
    assert isinstance(outcome, RowProblem)
    assert secret not in outcome.problem


def test_a_text_without_placeholders_needs_only_the_phone() -> None:
    template = compile_template("Sale today")
    header = check_header(["to", "unused"], template, max_columns=5, field="csv")
    assert validate_row(header, ["+14155550123", ""], template) == ValidRow(
        "+14155550123", "Sale today"
    )
