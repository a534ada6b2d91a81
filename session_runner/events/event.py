"""The normalised event: what every source of message news becomes, and what subscribers see.

Meta's webhooks, Twilio's status callbacks and our own engines' acks and
inbound messages all report the same few facts in different shapes. Each
becomes one `Event` (normalisers: `from_meta`, `from_twilio`, `from_engine`),
published to the events topic (`publish.py`) and read by the webhook
dispatcher, which hands it to subscribers as the body of a webhook. This
model is that contract: fields are added, never renamed or removed.

`id` is derived from the fact, never drawn at random: the same vendor
webhook delivered twice (vendors retry, and Meta sends duplicates anyway), or
a webhook re-processed after a crash, gives the same id, so a consumer can
de-duplicate on it. It is `evt_` and 32 hex characters of
sha256(scope, vendor message id, type); the scope is the source for the
vendors (their message ids are unique across all their customers) and the
source plus the account for our own engines (WhatsApp's own message ids are
only unique within one account). `at` is not part of it: two copies of one
fact may be stamped differently (Twilio's callbacks carry no time, so theirs
is when we received them).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Final, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic.functional_validators import AfterValidator

from session_runner.session.engines.events import AckStatus

#: The form of every event id.
EVENT_ID_PATTERN: Final = r"^evt_[0-9a-f]{32}$"
#: Kubernetes object names as the URLs and events carry them (DNS-1123 subdomain).
NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
#: Longer vendor error texts are cut: a subscriber needs the gist, not a page.
MAX_DETAIL_CHARS: Final = 500


class EventType(StrEnum):
    """What happened. The four statuses follow an outbound message; `inbound` is a new one."""

    SENT = "message.sent"
    DELIVERED = "message.delivered"
    READ = "message.read"
    FAILED = "message.failed"
    INBOUND = "message.inbound"

    @property
    def ack(self) -> AckStatus | None:
        """The engine's status this type reports (None for inbound messages)."""
        return _TYPE_TO_ACK.get(self)


_TYPE_TO_ACK: Final = {
    EventType.SENT: AckStatus.SENT,
    EventType.DELIVERED: AckStatus.DELIVERED,
    EventType.READ: AckStatus.READ,
    EventType.FAILED: AckStatus.FAILED,
}


def status_type(status: AckStatus) -> EventType:
    """The event type of an outbound status (`played`, a voice note heard, counts as read)."""
    if status is AckStatus.PLAYED:
        return EventType.READ
    return next(kind for kind, ack in _TYPE_TO_ACK.items() if ack is status)


class Source(StrEnum):
    """Who told us: a vendor (by its SenderPool vendor name) or one of our own accounts."""

    META = "meta-cloud"
    TWILIO = "twilio"
    SESSION = "session"


def event_id(source: Source, vendor_message_id: str, kind: EventType, scope: str = "") -> str:
    """The stable id of one fact. `scope`: the account for `session` (its ids are per
    account); empty for the vendors, whose message ids are globally unique."""
    material = "\n".join((source.value, scope, vendor_message_id, kind.value))
    return "evt_" + hashlib.sha256(material.encode()).hexdigest()[:32]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _bounded(value: str | None) -> str | None:
    if value is None or len(value) <= MAX_DETAIL_CHARS:
        return value
    return value[: MAX_DETAIL_CHARS - 1] + "…"


def phone_number(value: str | None) -> str | None:
    """E.164 for what a source calls a number: `whatsapp:+1555…` (Twilio), bare digits (Meta's
    wa_id), `+1 555-…` (a display number); anything else (a jid, a short code) as given."""
    if not value:
        return None
    bare = value.removeprefix("whatsapp:").strip()
    digits = "".join(ch for ch in bare if ch.isdigit())
    if digits and all(ch.isdigit() or ch in "+ -()" for ch in bare) and not digits.startswith("0"):
        return f"+{digits}"
    return bare


Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class Event(BaseModel):
    """One fact about one WhatsApp message, as subscribers receive it.

    Exactly one of `pool` (a vendor route: the SenderPool whose webhook
    endpoint heard it) and `account` (a WhatsAppAccount whose engine saw
    it) is set, both in `namespace`. Phone numbers are E.164 (`+` and
    digits) where the source gave a number, else as the source gave them
    (a group chat's jid).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str = Field(pattern=EVENT_ID_PATTERN, description="Stable: the same fact, the same id.")
    type: EventType
    at: Annotated[AwareDatetime, AfterValidator(_utc)] = Field(
        description="When it happened, as the source says (UTC); else when we heard of it."
    )
    source: Source
    namespace: Name
    pool: Name | None = None
    account: Name | None = None
    message_id: str | None = Field(
        default=None, description="Our message id (the producer's idempotency key), when known."
    )
    vendor_message_id: str = Field(
        min_length=1, description="The vendor's or WhatsApp's id of the message (wamid, SM…)."
    )
    to: str | None = None
    from_: str | None = Field(default=None, alias="from")
    error_code: str | None = Field(default=None, description="message.failed: the vendor code.")
    error_detail: Annotated[str | None, AfterValidator(_bounded)] = None
    text: str | None = Field(default=None, description="message.inbound: the text or caption.")

    @model_validator(mode="after")
    def _one_owner(self) -> Self:
        if (self.pool is None) == (self.account is None):
            raise ValueError("exactly one of pool and account must be set")
        return self

    @classmethod
    def create(
        cls,
        *,
        type: EventType,
        source: Source,
        vendor_message_id: str,
        at: datetime,
        namespace: str,
        pool: str | None = None,
        account: str | None = None,
        message_id: str | None = None,
        to: str | None = None,
        from_: str | None = None,
        error_code: str | None = None,
        error_detail: str | None = None,
        text: str | None = None,
    ) -> Event:
        """An event with its id derived from the fact (the way every normaliser builds one)."""
        scope = f"{namespace}/{account}" if source is Source.SESSION else ""
        return cls(
            id=event_id(source, vendor_message_id, type, scope),
            type=type,
            source=source,
            vendor_message_id=vendor_message_id,
            at=at,
            namespace=namespace,
            pool=pool,
            account=account,
            message_id=message_id,
            to=to,
            from_=from_,
            error_code=error_code,
            error_detail=error_detail,
            text=text,
        )

    @property
    def owner(self) -> str:
        """`namespace/pool` or `namespace/account`."""
        return f"{self.namespace}/{self.pool or self.account}"

    def to_json(self) -> str:
        """The wire form (the SNS message body): `from` spelt as such, unset fields left out."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @classmethod
    def from_json(cls, body: str | bytes) -> Event:
        """Parse the wire form; raises pydantic's ValidationError when it is not an event."""
        return cls.model_validate_json(body)
