"""What travels through the outbound topic and queues: one message to one recipient.

A message is a text, a template (the vendor's approved message, by name, with
its variables: what WhatsApp requires outside the 24-hour window), or a media
file by URL (the vendor downloads it; `text` is its caption). `MEDIA_TYPES`
holds the types WhatsApp takes and the largest size of each (WhatsApp's
limits, no larger than Twilio's 16 MB); the API checks a URL against it
before it accepts the message.

The body of the SNS publish (raw delivery, so the SQS message body is this
JSON too). `id` is the message's identity from the producer's request to the
vendor: the producer's idempotency key, or one the producer assigns. The
ledger is keyed by it, the vendor stand-ins count by it, and a redelivered or
duplicated queue message carries the same id, which is what makes a second
send detectable.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from session_runner.contract.outbound import TARGET_ATTRIBUTE, TARGET_PATTERN

__all__ = [
    "MEDIA_TYPES",
    "TARGET_ATTRIBUTE",
    "Media",
    "MessageId",
    "OutboundMessage",
    "Template",
    "new_message_id",
]

E164_PATTERN: Final = r"^\+[1-9][0-9]{6,14}$"
MESSAGE_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"

MessageId = Annotated[str, StringConstraints(pattern=MESSAGE_ID_PATTERN)]
MAX_TEXT_CHARS: Final = 4096  # WhatsApp's limit for a text message body
MAX_CAPTION_CHARS: Final = 1024  # WhatsApp's limit for a media caption
#: A template's name: Meta's (lowercase, digits, underscores) or a Twilio Content SID (HX...).
TEMPLATE_NAME_PATTERN: Final = r"^[A-Za-z0-9_]{1,512}$"
#: A language code as Meta names them (en, en_US, pt_BR, zh_CN ...).
LANGUAGE_PATTERN: Final = r"^[a-z]{2,3}(_[A-Z]{2})?$"
VARIABLE_NAME_PATTERN: Final = r"^[A-Za-z0-9_]{1,64}$"
MAX_VARIABLES: Final = 100
MAX_VARIABLE_CHARS: Final = 1024
MAX_MEDIA_URL_CHARS: Final = 2048
MB: Final = 1024 * 1024


class MediaKind(StrEnum):
    """How WhatsApp shows a media file (Meta's message `type`)."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"


#: The media types WhatsApp takes: (kind, largest size in bytes).
MEDIA_TYPES: Final[dict[str, tuple[MediaKind, int]]] = {
    "image/jpeg": (MediaKind.IMAGE, 5 * MB),
    "image/png": (MediaKind.IMAGE, 5 * MB),
    "video/mp4": (MediaKind.VIDEO, 16 * MB),
    "video/3gpp": (MediaKind.VIDEO, 16 * MB),
    "audio/aac": (MediaKind.AUDIO, 16 * MB),
    "audio/mp4": (MediaKind.AUDIO, 16 * MB),
    "audio/mpeg": (MediaKind.AUDIO, 16 * MB),
    "audio/ogg": (MediaKind.AUDIO, 16 * MB),
    "application/pdf": (MediaKind.DOCUMENT, 16 * MB),
}


class Template(BaseModel):
    """A vendor-approved template: Meta's template name and language, or a Twilio Content
    SID; `variables` fill its placeholders ({{1}}, {{2}} ... by number, or by name)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, StringConstraints(pattern=TEMPLATE_NAME_PATTERN)] = Field(
        description="Meta: the template's name; Twilio: its Content SID (HX...)."
    )
    language: Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN)] = Field(
        default="en", description="The template's language (Meta's code: en, en_US, pt_BR)."
    )
    variables: dict[
        Annotated[str, StringConstraints(pattern=VARIABLE_NAME_PATTERN)],
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_VARIABLE_CHARS)],
    ] = Field(
        default_factory=dict,
        max_length=MAX_VARIABLES,
        description='The placeholders\' values: {"1": "Ada"} for {{1}}.',
    )

    def ordered_values(self) -> list[str]:
        """The values in placeholder order: numbered ones by number, then named ones by name
        (Meta's body parameters are positional)."""
        numbered = sorted((int(k), v) for k, v in self.variables.items() if k.isdigit())
        named = sorted((k, v) for k, v in self.variables.items() if not k.isdigit())
        return [v for _, v in numbered] + [v for _, v in named]


class Media(BaseModel):
    """A file the vendor downloads from `url` and sends; its type is checked against
    `MEDIA_TYPES`, its size by the API before it accepts the message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: Annotated[
        str, StringConstraints(pattern=r"^https?://[^\s/]+[^\s]*$", max_length=MAX_MEDIA_URL_CHARS)
    ] = Field(description="Where the vendor downloads it (http or https, as Meta and Twilio).")
    content_type: str = Field(description="Its media type: " + ", ".join(MEDIA_TYPES) + ".")

    @model_validator(mode="after")
    def _known_type(self) -> Media:
        if self.content_type not in MEDIA_TYPES:
            raise ValueError(
                f"content_type {self.content_type!r} is not one WhatsApp takes: "
                + ", ".join(MEDIA_TYPES)
            )
        return self

    @property
    def kind(self) -> MediaKind:
        return MEDIA_TYPES[self.content_type][0]

    @property
    def max_bytes(self) -> int:
        return MEDIA_TYPES[self.content_type][1]

    def served_type_problem(self, content_type: str | None) -> str | None:
        """How a server's Content-Type contradicts this file's type (None: it does not).
        The API's HEAD before accepting and a session's download both ask."""
        served = (content_type or "").split(";")[0].strip().lower()
        if served != self.content_type:
            return f"is served as {served or 'no type'}, not {self.content_type}"
        return None


class OutboundMessage(BaseModel):
    """One message to one recipient, routed by `target` to one SenderPool: a text, a
    template, or a media file (with `text` as its caption)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: MessageId = Field(description="Idempotency key: one send per id, ever.")
    target: Annotated[str, StringConstraints(pattern=TARGET_PATTERN)] = Field(
        description="The SenderPool route (its spec.target)."
    )
    to: Annotated[str, StringConstraints(pattern=E164_PATTERN)] = Field(
        description="Recipient in E.164."
    )
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)] | None = Field(
        default=None, description="The message body; a media file's caption."
    )
    template: Template | None = None
    media: Media | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @model_validator(mode="after")
    def _aware(self) -> OutboundMessage:
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must carry a timezone")
        return self

    @model_validator(mode="after")
    def _one_kind(self) -> OutboundMessage:
        problem = content_problem(self.text, self.template, self.media)
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def plain_text(self) -> str | None:
        """The text of a text message; None for a template or a media file."""
        return self.text if self.template is None and self.media is None else None

    def to_json(self) -> str:
        """The SNS/SQS body."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, body: str | bytes) -> OutboundMessage:
        """Parse a queue message body; raises pydantic's ValidationError when it is not one."""
        return cls.model_validate_json(body)


def content_problem(text: str | None, template: Template | None, media: Media | None) -> str | None:
    """Why these fields are not one message (None: they are): a text, a template (alone), or
    a media file with an optional caption of at most MAX_CAPTION_CHARS."""
    if template is not None and (text is not None or media is not None):
        return "a template message carries no text or media of its own"
    if media is not None:
        if text is not None and len(text) > MAX_CAPTION_CHARS:
            return f"a media caption (text) has at most {MAX_CAPTION_CHARS} characters"
        return None
    if template is None and text is None:
        return "give text, template or media"
    return None


def new_message_id() -> str:
    """An id for a producer that gave no idempotency key (then retries of *its* call are not
    de-duplicated: only the queue's redeliveries are)."""
    return f"wf-{uuid.uuid4().hex}"
