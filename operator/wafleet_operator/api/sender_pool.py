"""SenderPool: the outbound senders of one vendor route, scaled on queue depth."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StrictFloat, StrictInt

from .common import (
    AGE_COLUMN,
    API_VERSION,
    READY_COLUMN,
    CelRule,
    Condition,
    HttpUrl,
    ImageRef,
    KubeModel,
    LocalObjectReference,
    ObjectMeta,
    PhoneNumber,
    PrinterColumn,
    ResourceInfo,
    ResourceRequirements,
    SecretRef,
    SetList,
    Unique,
    conditions_field,
    defaulted,
)
from .whatsapp_account import S3CredentialsSecretRef

#: Static AWS keys in a Secret: the account's snapshot credentials reference, reused as is
#: (a Secret's name, and the keys of the access key id and the secret access key in it,
#: ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` by default).
AwsCredentialsSecretRef = S3CredentialsSecretRef

TARGET_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class Vendor(StrEnum):
    META_CLOUD = "meta-cloud"
    TWILIO = "twilio"
    SESSION = "session"


class ScalingProvider(StrEnum):
    """Who turns the queue depth into replicas."""

    #: The operator polls the queue and sets the Deployment's replicas itself
    #: (wafleet_operator.scaling): nothing to install besides wafleet.
    OPERATOR = "operator"
    #: A KEDA ScaledObject with an aws-sqs-queue trigger drives an HPA: for
    #: clusters that already run KEDA and want one autoscaler for everything.
    KEDA = "keda"


#: The Throttled condition: the vendor asked the pool to slow down (until status.throttledUntil).
THROTTLED = "Throttled"


def _replicas_ordered(replicas: SenderPoolReplicas) -> bool:
    return replicas.min <= replicas.max


class SenderPoolReplicas(KubeModel):
    """Bounds for the queue-depth scaler; min 0 lets an idle pool cost nothing."""

    cel_rules = (
        CelRule(
            rule="self.min <= self.max",
            message="min must not exceed max",
            check=_replicas_ordered,
            field_path=".min",
        ),
    )

    min: StrictInt = Field(0, ge=0, le=1000, description="Fewest sender replicas.")
    max: StrictInt = Field(10, ge=1, le=1000, description="Most sender replicas.")


class SenderPoolScaling(KubeModel):
    """How replicas follow the queue. Both providers apply the same rule: up at once,
    down only to the highest recommendation of the last stabilization window (the HPA's)."""

    provider: ScalingProvider = Field(
        ScalingProvider.OPERATOR, description="Who scales the senders: operator or keda."
    )
    stabilization_window_seconds: StrictInt = Field(
        300,
        ge=0,
        le=3600,
        description="Scale down only to the highest replica count wanted in this many seconds.",
    )


class SenderPoolQueue(KubeModel):
    """The pool's SQS queue and its dead-letter queue (the operator creates both)."""

    max_receive_count: StrictInt = Field(
        5, ge=1, le=1000, description="Receives before a message moves to the dead-letter queue."
    )
    visibility_timeout_seconds: StrictInt = Field(
        60,
        ge=10,
        le=43200,
        description="Seconds a received message stays hidden while a sender works on it.",
    )
    message_retention_seconds: StrictInt = Field(
        345600,
        ge=60,
        le=1209600,
        description="Seconds SQS keeps an unsent message (default 4 days, at most 14).",
    )


def _credentials_present(spec: SenderPoolSpec) -> bool:
    return spec.vendor == Vendor.SESSION or spec.credentials_secret is not None


def _account_ref_matches_vendor(spec: SenderPoolSpec) -> bool:
    return (spec.account_ref is not None) == (spec.vendor == Vendor.SESSION)


class SenderPoolSpec(KubeModel):
    """One pool per route: adding a number or a vendor is a new SenderPool and
    never touches the others' queues, limits or scaling."""

    cel_rules = (
        CelRule(
            rule="self.vendor == 'session' || has(self.credentialsSecret)",
            message="credentialsSecret is required for vendors meta-cloud and twilio",
            check=_credentials_present,
            field_path=".credentialsSecret",
            reason="FieldValueRequired",
        ),
        CelRule(
            rule="has(self.accountRef) == (self.vendor == 'session')",
            message="accountRef is required for vendor session and not allowed for other vendors",
            check=_account_ref_matches_vendor,
            field_path=".accountRef",
        ),
    )

    vendor: Vendor = Field(description="Vendor adapter: meta-cloud, twilio or session.")
    target: str = Field(
        pattern=TARGET_PATTERN,
        description="Routing target: the SNS `target` attribute this pool's queue subscribes to.",
    )
    credentials_secret: SecretRef | None = Field(
        None, description="Secret with the vendor's API credentials (meta-cloud, twilio)."
    )
    aws_credentials_secret: AwsCredentialsSecretRef | None = Field(
        None,
        description="Secret with static AWS keys for the senders (off EKS); "
        "the pod's ambient credentials if unset.",
    )
    phone_numbers: Annotated[list[PhoneNumber], Field(max_length=256), SetList, Unique] | None = (
        Field(None, description="Sender numbers in E.164 this pool sends from.")
    )
    account_ref: LocalObjectReference | None = Field(
        None, description="WhatsAppAccount whose session sends (vendor session)."
    )
    rate_limit_per_second: StrictFloat = Field(
        10, ge=0.1, le=1000, description="Messages per second across the whole pool."
    )
    concurrency: StrictInt = Field(4, ge=1, le=256, description="In-flight sends per replica.")
    replicas: SenderPoolReplicas = defaulted(SenderPoolReplicas, "Bounds of the sender replicas.")
    backlog_per_replica: StrictInt = Field(
        100, ge=1, le=1000000, description="Queued messages one replica is expected to drain."
    )
    image: ImageRef | None = Field(None, description="Sender image override.")
    resources: ResourceRequirements | None = Field(None, description="Sender container resources.")
    scaling: SenderPoolScaling = defaulted(
        SenderPoolScaling, "Who scales the senders, and how slowly they scale down."
    )
    queue: SenderPoolQueue = defaulted(SenderPoolQueue, "Settings of the pool's SQS queues.")


class QueueDepth(KubeModel):
    visible: StrictInt = Field(0, ge=0, description="Messages waiting in the queue.")
    in_flight: StrictInt = Field(0, ge=0, description="Messages received but not yet deleted.")


class SenderPoolStatus(KubeModel):
    queue_depth: QueueDepth | None = Field(None, description="Last observed queue depth.")
    replicas: StrictInt | None = Field(None, ge=0, description="Sender replicas running.")
    desired_replicas: StrictInt | None = Field(
        None, ge=0, description="Replicas the scaler asked for."
    )
    last_scale_time: datetime | None = Field(
        None, description="When the scaler last changed the replicas."
    )
    queue_url: HttpUrl | None = Field(None, description="URL of the pool's SQS queue.")
    dead_letter_queue_url: HttpUrl | None = Field(
        None, description="URL of the pool's dead-letter queue."
    )
    throttled_until: datetime | None = Field(
        None, description="The vendor asked the pool to pause sending until then."
    )
    throttle_reason: str | None = Field(
        None, max_length=256, description="Why, as the vendor said it (its error code)."
    )
    conditions: list[Condition] = conditions_field(
        "Current state, one entry per type: Ready, Throttled."
    )
    observed_generation: StrictInt | None = Field(
        None, ge=0, description="metadata.generation the operator last acted on."
    )


class SenderPool(KubeModel):
    api_version: Literal["wafleet.io/v1alpha1"] = API_VERSION
    kind: Literal["SenderPool"] = "SenderPool"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SenderPoolSpec
    status: SenderPoolStatus | None = None


SENDER_POOL = ResourceInfo(
    kind="SenderPool",
    plural="senderpools",
    singular="senderpool",
    short_names=("sp",),
    description="Senders of one vendor route, scaled on the depth of their queue.",
    spec_model=SenderPoolSpec,
    status_model=SenderPoolStatus,
    resource_model=SenderPool,
    spec_description="Desired vendor, route, limits and scaling bounds.",
    status_description="Observed queue depth and replicas, written by the operator.",
    printer_columns=(
        PrinterColumn("Vendor", "string", ".spec.vendor", "Vendor adapter."),
        PrinterColumn("Target", "string", ".spec.target", "Routing target."),
        PrinterColumn("Replicas", "integer", ".status.replicas", "Sender replicas running."),
        PrinterColumn("Queue", "integer", ".status.queueDepth.visible", "Messages waiting."),
        READY_COLUMN,
        AGE_COLUMN,
    ),
)
