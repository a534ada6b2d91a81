"""WebhookSubscription: signed, retried delivery of events to a subscriber."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt

from .common import (
    AGE_COLUMN,
    API_VERSION,
    Condition,
    HttpUrl,
    KubeModel,
    ObjectMeta,
    ObjectName,
    PrinterColumn,
    ResourceInfo,
    SecretKey,
    SetList,
    Unique,
    conditions_field,
    defaulted,
)

#: Svix's schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)


class EventType(StrEnum):
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_STATUS = "message.status"
    ACCOUNT_STATUS = "account.status"
    ACCOUNT_QR = "account.qr"


class SubscriptionState(StrEnum):
    ACTIVE = "Active"
    TOMBSTONED = "Tombstoned"
    DISABLED = "Disabled"


class SigningSecretRef(KubeModel):
    """Standard Webhooks signing secret (``whsec_…``), so subscribers can
    verify that a delivery came from wafleet and was not replayed."""

    name: ObjectName = Field(description="Secret holding the signing secret.")
    key: SecretKey = Field("secret", description="Key of the signing secret in the Secret.")


class RetryPolicy(KubeModel):
    """Retries go through a separate queue so one slow subscriber never delays
    first attempts to the others."""

    schedule: Annotated[list[Annotated[StrictInt, Field(ge=1, le=86400)]], Field(max_length=32)] = (
        Field(
            default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE),
            description="Delay in seconds before each retry; its length is the number of retries.",
            json_schema_extra={"default": list(DEFAULT_RETRY_SCHEDULE)},
        )
    )
    jitter_ratio: StrictFloat = Field(
        0.2, ge=0, le=1, description="Each delay varies randomly by up to this fraction."
    )


class HeldEvents(StrEnum):
    """What becomes of the events for a subscription while it is tombstoned."""

    DROP = "Drop"
    REPLAY = "Replay"


class TombstonePolicy(KubeModel):
    """A dead subscriber is switched off instead of burning retries forever."""

    failures_in_24h: StrictInt = Field(
        20,
        ge=1,
        le=100000,
        alias="failuresIn24h",
        description="Tombstone after more than this many failed deliveries in 24 hours.",
    )
    held_events: HeldEvents = Field(
        HeldEvents.DROP,
        alias="heldEvents",
        description="Events while tombstoned: Drop, or Replay on resurrection (held up to 24 h).",
    )


class WebhookSubscriptionSpec(KubeModel):
    url: HttpUrl = Field(description="http(s) URL the events are POSTed to.")
    event_types: Annotated[list[EventType], Field(min_length=1, max_length=16), SetList, Unique] = (
        Field(description="Event types to deliver.")
    )
    signing_secret: SigningSecretRef = Field(description="Secret used to sign every delivery.")
    timeout_seconds: StrictFloat = Field(
        5, ge=0.5, le=30, description="Seconds to wait for the subscriber's response."
    )
    retry: RetryPolicy = defaulted(RetryPolicy, "Retry schedule of failed deliveries.")
    tombstone: TombstonePolicy = defaulted(
        TombstonePolicy, "When a failing subscriber is switched off."
    )
    disabled: StrictBool = Field(False, description="Stop delivering; false again re-activates.")
    accounts: Annotated[list[ObjectName], Field(max_length=1000), SetList, Unique] | None = Field(
        None, description="Only events of these WhatsAppAccounts; all if unset or empty."
    )


class LastDelivery(KubeModel):
    time: datetime = Field(description="When the delivery was attempted.")
    status_code: StrictInt | None = Field(
        None, ge=100, le=599, description="HTTP status code returned, if any."
    )
    event_id: str | None = Field(None, description="Id of the delivered event.")


class WebhookSubscriptionStatus(KubeModel):
    state: SubscriptionState | None = Field(
        None, description="Active, Tombstoned (after repeated failures) or Disabled."
    )
    failures_last_24h: StrictInt | None = Field(
        None, ge=0, alias="failuresLast24h", description="Failed deliveries in the last 24 hours."
    )
    last_delivery: LastDelivery | None = Field(None, description="Latest delivery attempt.")
    last_error: str | None = Field(None, description="Error of the latest failed delivery.")
    conditions: list[Condition] = conditions_field()
    observed_generation: StrictInt | None = Field(
        None, ge=0, description="metadata.generation the operator last acted on."
    )


class WebhookSubscription(KubeModel):
    api_version: Literal["wafleet.io/v1alpha1"] = API_VERSION
    kind: Literal["WebhookSubscription"] = "WebhookSubscription"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WebhookSubscriptionSpec
    status: WebhookSubscriptionStatus | None = None


WEBHOOK_SUBSCRIPTION = ResourceInfo(
    kind="WebhookSubscription",
    plural="webhooksubscriptions",
    singular="webhooksubscription",
    short_names=("whs",),
    description="A subscriber that receives wafleet events as signed, retried webhooks.",
    spec_model=WebhookSubscriptionSpec,
    status_model=WebhookSubscriptionStatus,
    resource_model=WebhookSubscription,
    spec_description="Where, what and how events are delivered.",
    status_description="Delivery health, written by the operator and the dispatcher.",
    printer_columns=(
        PrinterColumn("URL", "string", ".spec.url", "Subscriber URL."),
        PrinterColumn("State", "string", ".status.state", "Active, Tombstoned or Disabled."),
        PrinterColumn(
            "Failures", "integer", ".status.failuresLast24h", "Failed deliveries in 24 hours."
        ),
        PrinterColumn(
            "Last Delivery", "date", ".status.lastDelivery.time", "Age of the latest delivery."
        ),
        AGE_COLUMN,
    ),
)
