"""What a message says (text, template, media) and how each vendor is asked to send it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from session_runner.sender.message import (
    MAX_CAPTION_CHARS,
    MEDIA_TYPES,
    Media,
    MediaKind,
    OutboundMessage,
    Template,
    content_problem,
)
from session_runner.sender.vendors import meta_cloud, twilio
from session_runner.sender.vendors.base import Outcome
from session_runner.session.outbound.adapter import SessionAdapter

PNG = Media(url="https://cdn.example/p.png", content_type="image/png")
OGG = Media(url="https://cdn.example/v.ogg", content_type="audio/ogg")
WELCOME = Template(name="order_shipped", language="en_US", variables={"2": "Bo", "1": "Ada"})


def message(**content: Any) -> OutboundMessage:
    return OutboundMessage.model_validate(
        {"id": "m-1", "target": "t", "to": "+14155550123"} | content
    )


@pytest.mark.parametrize(
    ("text", "template", "media", "problem"),
    [
        ("hi", None, None, None),
        (None, WELCOME, None, None),
        (None, None, PNG, None),
        ("a caption", None, PNG, None),
        (None, None, None, "give text, template or media"),
        ("hi", WELCOME, None, "a template message carries no text or media of its own"),
        (None, WELCOME, PNG, "a template message carries no text or media of its own"),
        ("x" * (MAX_CAPTION_CHARS + 1), None, PNG, "a media caption (text) has at most 1024"),
    ],
)
def test_content_problem(
    text: str | None, template: Template | None, media: Media | None, problem: str | None
) -> None:
    found = content_problem(text, template, media)
    assert (found or "")[: len(problem or "")] == (problem or "")
    assert (found is None) == (problem is None)


def test_a_message_refuses_two_contents_and_none() -> None:
    with pytest.raises(ValidationError, match="give text, template or media"):
        message()
    with pytest.raises(ValidationError, match="carries no text or media"):
        message(text="hi", template=WELCOME.model_dump())


@pytest.mark.parametrize("content_type", ["image/gif", "text/html", "application/zip", ""])
def test_media_of_a_type_whatsapp_does_not_take_is_refused_naming_it(content_type: str) -> None:
    with pytest.raises(ValidationError, match="is not one WhatsApp takes"):
        Media(url="https://cdn.example/x", content_type=content_type)


@pytest.mark.parametrize("url", ["ftp://x/y.png", "https://", "x", "https://a b/c", "file:///x"])
def test_media_is_fetched_over_http_only(url: str) -> None:
    with pytest.raises(ValidationError):
        Media(url=url, content_type="image/png")


def test_each_media_type_has_a_kind_and_a_limit_no_larger_than_16_mb() -> None:
    for content_type, (kind, limit) in MEDIA_TYPES.items():
        media = Media(url="https://cdn.example/x", content_type=content_type)
        assert (media.kind, media.max_bytes) == (kind, limit)
        assert 0 < limit <= 16 * 1024 * 1024
    assert MEDIA_TYPES["image/png"][1] == 5 * 1024 * 1024


def test_template_values_are_in_placeholder_order() -> None:
    template = Template(name="t", variables={"10": "j", "2": "b", "1": "a", "name": "n"})
    assert template.ordered_values() == ["a", "b", "j", "n"]


@pytest.mark.parametrize(
    ("variables", "ok"),
    [
        ({"1": "x"}, True),
        ({"with space": "x"}, False),
        ({"1": ""}, False),
        ({"1": "x" * 1025}, False),
    ],
)
def test_template_variables_are_checked(variables: dict[str, str], ok: bool) -> None:
    if ok:
        Template(name="t", variables=variables)
    else:
        with pytest.raises(ValidationError):
            Template(name="t", variables=variables)


def test_every_content_survives_the_queue() -> None:
    for sent in (message(text="hi"), message(template=WELCOME), message(media=PNG, text="look")):
        assert OutboundMessage.from_json(sent.to_json()) == sent


@pytest.mark.parametrize(
    ("content", "fields"),
    [
        ({"text": "hi"}, {"Body": "hi"}),
        (
            {"template": WELCOME},
            {"ContentSid": "order_shipped", "ContentVariables": '{"1": "Ada", "2": "Bo"}'},
        ),
        ({"template": Template(name="HX0123")}, {"ContentSid": "HX0123"}),
        ({"media": PNG}, {"MediaUrl": PNG.url}),
        ({"media": PNG, "text": "look"}, {"MediaUrl": PNG.url, "Body": "look"}),
    ],
)
def test_twilio_is_asked_for_each_content(content: dict[str, Any], fields: dict[str, str]) -> None:
    assert twilio.content_fields(message(**content)) == fields
    if "ContentVariables" in fields:
        assert json.loads(fields["ContentVariables"]) == WELCOME.variables


@pytest.mark.parametrize(
    ("content", "body"),
    [
        ({"text": "hi"}, {"type": "text", "text": {"body": "hi"}}),
        (
            {"template": WELCOME},
            {
                "type": "template",
                "template": {
                    "name": "order_shipped",
                    "language": {"code": "en_US"},
                    "components": [
                        {
                            "type": "body",
                            "parameters": [
                                {"type": "text", "text": "Ada"},
                                {"type": "text", "text": "Bo"},
                            ],
                        }
                    ],
                },
            },
        ),
        (
            {"template": Template(name="hello_world")},
            {"type": "template", "template": {"name": "hello_world", "language": {"code": "en"}}},
        ),
        (
            {"media": PNG, "text": "look"},
            {"type": "image", "image": {"link": PNG.url, "caption": "look"}},
        ),
        (
            {"media": OGG, "text": "no caption for audio"},
            {"type": "audio", "audio": {"link": OGG.url}},
        ),
    ],
)
def test_meta_is_asked_for_each_content(content: dict[str, Any], body: dict[str, Any]) -> None:
    assert meta_cloud.content(message(**content)) == body
    assert meta_cloud.request_body(message(**content))["biz_opaque_callback_data"] == "m-1"


async def test_a_session_refuses_templates_for_good_without_its_engine() -> None:
    asked: list[str] = []

    def engine() -> None:
        asked.append("engine")
        return None

    adapter = SessionAdapter(engine)
    result = await adapter.send(message(template=WELCOME), sender=None)
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "unsupported-content")
    assert asked == []
    for content in ({"text": "hi"}, {"media": PNG}):  # not connected: nothing downloaded
        assert (await adapter.send(message(**content), sender=None)).outcome == Outcome.RETRY
    assert asked == ["engine", "engine"]
    assert OGG.kind == MediaKind.AUDIO
