"""`wafleet send`'s content options as one message's content."""

from __future__ import annotations

from typing import Any

import pytest

from session_runner.cli.problems import EXIT_USAGE, CommandError
from session_runner.cli.send_content import message_content
from session_runner.sender.message import OutboundMessage

PNG = "https://cdn.example/receipts/r.png"


def content(**options: Any) -> dict[str, Any]:
    given: dict[str, Any] = {
        "text": None,
        "template": None,
        "language": None,
        "variable_pairs": (),
        "media": None,
        "media_type": None,
    }
    return message_content(**(given | options))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"text": "hi"}, {"text": "hi"}),
        ({"template": "order_shipped"}, {"template": {"name": "order_shipped", "variables": {}}}),
        (
            {"template": "t", "language": "pt_BR", "variable_pairs": ["1=Ada", "when=a=b"]},
            {
                "template": {
                    "name": "t",
                    "variables": {"1": "Ada", "when": "a=b"},
                    "language": "pt_BR",
                }
            },
        ),
        ({"media": PNG}, {"media": {"url": PNG, "content_type": "image/png"}}),
        (
            {"media": "https://x.example/get?id=1", "media_type": "application/pdf", "text": "r"},
            {
                "text": "r",
                "media": {"url": "https://x.example/get?id=1", "content_type": "application/pdf"},
            },
        ),
    ],
)
def test_options_make_one_content(options: dict[str, Any], expected: dict[str, Any]) -> None:
    made = content(**options)
    assert made == expected
    OutboundMessage.model_validate({"id": "m", "target": "t", "to": "+14155550123", **made})


@pytest.mark.parametrize(
    ("options", "line"),
    [
        ({}, "give --text, --template or --media"),
        ({"text": "x", "variable_pairs": ["1=a"]}, "--language and --var go with --template"),
        ({"text": "x", "language": "en"}, "--language and --var go with --template"),
        ({"text": "x", "media_type": "image/png"}, "--media-type goes with --media"),
        ({"template": "t", "variable_pairs": ["novalue"]}, "--var: KEY=VALUE, not 'novalue'"),
        ({"template": "t", "variable_pairs": ["=x"]}, "--var: KEY=VALUE, not '=x'"),
        ({"media": "https://x.example/file"}, "--media-type: the type of https://x.example/file"),
    ],
)
def test_bad_options_are_usage_errors_naming_them(options: dict[str, Any], line: str) -> None:
    with pytest.raises(CommandError) as raised:
        content(**options)
    assert raised.value.code == EXIT_USAGE
    assert raised.value.line.startswith(line)
