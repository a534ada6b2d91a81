"""WhatsAppAccount: one WhatsApp session that must run exactly once."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StringConstraints

# One list of engines and of runner phases for the CRD and the runner: the
# operator-runner contract (session_runner.contract) owns them.
from session_runner.contract import Engine as Engine
from session_runner.contract import RunnerPhase as RunnerPhase
from session_runner.contract.resources import ACCOUNT_PLURAL

from .common import (
    AGE_COLUMN,
    API_VERSION,
    READY_COLUMN,
    CelRule,
    Condition,
    HttpUrl,
    ImageRef,
    KubeModel,
    ObjectMeta,
    ObjectName,
    PhoneNumber,
    PrinterColumn,
    ResourceInfo,
    ResourceRequirements,
    SecretKey,
    conditions_field,
    defaulted,
)

SNAPSHOT_ID_PATTERN = r"^[0-9A-Za-z._-]{1,128}$"
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"
#: A region as S3 and S3-compatible stores name them (us-east-1, eu-west-3, minio,
#: garage): lower-case words joined by single hyphens, not only digits. botocore
#: refuses anything that is not a host label, and the runner would exit at start.
REGION_PATTERN = r"^([a-z0-9]+(-[a-z0-9]+)+|[0-9]*[a-z][a-z0-9]*)$"
#: Ten years: past that, "keep everything younger than" is "keep everything", and
#: the runner's date arithmetic (now - hours) overflows from about 2*10^7 hours.
MAX_KEEP_WITHIN_HOURS = 87600

#: An account's children are all named waa-<name> (specs/naming.py): with the
#: prefix, a DNS-1123 label (lower-case alphanumerics and "-", no dots) makes every
#: child name valid, the Service's (a DNS-1035 label) included.
ACCOUNT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: specs.naming.MAX_ACCOUNT_NAME_LENGTH: the StatefulSet's name, waa-<name>, is at
#: most 52 characters (its pods' controller-revision-hash label must fit in 63).
MAX_ACCOUNT_NAME_LENGTH = 48

SnapshotId = Annotated[str, StringConstraints(pattern=SNAPSHOT_ID_PATTERN)]
#: A Kubernetes object uid (an RFC 4122 UUID, as the API server assigns them).
ACCOUNT_UID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
AccountUid = Annotated[str, StringConstraints(pattern=ACCOUNT_UID_PATTERN, max_length=36)]


class DeletionPolicy(StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


class LocalLogin(StrEnum):
    AUTOMATIC = "Automatic"
    NEVER = "Never"


class AccountPhase(StrEnum):
    PENDING = "Pending"
    RESTORING = "Restoring"
    AWAITING_LOGIN = "AwaitingLogin"
    CONNECTED = "Connected"
    DISCONNECTED = "Disconnected"
    SUSPENDED = "Suspended"
    FENCED = "Fenced"
    FAILED = "Failed"


class AccountConditionType(StrEnum):
    READY = "Ready"
    LEASE_HELD = "LeaseHeld"
    LOGGED_IN = "LoggedIn"
    SNAPSHOT_HEALTHY = "SnapshotHealthy"


# ---------------------------------------------------------------- spec


class S3CredentialsSecretRef(KubeModel):
    """Static keys for S3-compatible stores; without it the runner uses the
    pod's ambient AWS credentials (IRSA, instance profile)."""

    name: ObjectName = Field(description="Secret holding the access keys.")
    access_key_id_key: SecretKey = Field(
        "AWS_ACCESS_KEY_ID", description="Key of the access key id in the Secret."
    )
    secret_access_key_key: SecretKey = Field(
        "AWS_SECRET_ACCESS_KEY", description="Key of the secret access key in the Secret."
    )


class EncryptionKeySecretRef(KubeModel):
    """The key-encryption key: snapshots hold session credentials, so they are
    never stored unencrypted, even in a private bucket."""

    name: ObjectName = Field(description="Secret holding the 32-byte key-encryption key.")
    key: SecretKey = Field("key", description="Key of the key-encryption key in the Secret.")


class SnapshotRetention(KubeModel):
    keep_last: StrictInt = Field(
        7, ge=1, le=1000, description="Number of newest snapshots to keep."
    )
    keep_within_hours: StrictInt | None = Field(
        None,
        ge=0,
        le=MAX_KEEP_WITHIN_HOURS,
        description="Also keep every snapshot younger than this many hours (at most 10 years).",
    )


class SnapshotSpec(KubeModel):
    """Where the session is backed up, so a rescheduled pod resumes without a QR scan."""

    bucket: str = Field(
        min_length=3, max_length=63, pattern=BUCKET_PATTERN, description="S3 bucket name."
    )
    prefix: str = Field("", max_length=512, description="Key prefix inside the bucket.")
    endpoint: HttpUrl | None = Field(
        None, description="S3 endpoint URL for S3-compatible stores such as MinIO."
    )
    region: str = Field(
        "us-east-1",
        min_length=1,
        max_length=63,
        pattern=REGION_PATTERN,
        description="S3 region, e.g. us-east-1, or the name an S3-compatible store uses (minio).",
    )
    credentials_secret: S3CredentialsSecretRef | None = Field(
        None, description="Secret with static S3 keys; the pod's ambient credentials if unset."
    )
    encryption_key_secret: EncryptionKeySecretRef = Field(
        description="Secret with the key that wraps every snapshot's data key."
    )
    interval_seconds: StrictInt = Field(
        300, ge=30, le=86400, description="Seconds between periodic snapshots."
    )
    retention: SnapshotRetention = defaulted(
        SnapshotRetention, "Which snapshots survive garbage collection."
    )
    adopt_from_uid: AccountUid | None = Field(
        None,
        description="uid of a deleted account (Retain) whose snapshots this one may take over.",
    )


def _lease_duration_ok(lease: LeaseSpec) -> bool:
    return lease.duration_seconds > lease.renew_deadline_seconds


def _lease_retry_ok(lease: LeaseSpec) -> bool:
    # client-go: renewDeadline > JitterFactor (1.2) * retryPeriod, in integers.
    return lease.renew_deadline_seconds * 5 > lease.retry_period_seconds * 6


class LeaseSpec(KubeModel):
    """client-go leader-election timings; the relations between them are what
    keeps two runners from ever believing they both hold the lease."""

    cel_rules = (
        CelRule(
            rule="self.durationSeconds > self.renewDeadlineSeconds",
            message="renewDeadlineSeconds must be less than durationSeconds",
            check=_lease_duration_ok,
            field_path=".renewDeadlineSeconds",
        ),
        CelRule(
            rule="self.renewDeadlineSeconds * 5 > self.retryPeriodSeconds * 6",
            message="retryPeriodSeconds must be less than renewDeadlineSeconds / 1.2",
            check=_lease_retry_ok,
            field_path=".retryPeriodSeconds",
        ),
    )

    duration_seconds: StrictInt = Field(
        15, ge=1, le=3600, description="How long a lease record stays valid without renewal."
    )
    renew_deadline_seconds: StrictInt = Field(
        10, ge=1, le=3600, description="The holder stops the engine if renewal fails this long."
    )
    retry_period_seconds: StrictInt = Field(
        2, ge=1, le=3600, description="Interval between acquire and renew attempts."
    )


class LocalEngineSpec(KubeModel):
    """The simulated peer of `engine: local`, which stands in for WhatsApp in demos and tests."""

    login: LocalLogin = Field(
        LocalLogin.AUTOMATIC,
        description="Automatic: the simulated person scans the QR at once. Never: only a "
        "restored session connects.",
    )


class WhatsAppAccountSpec(KubeModel):
    phone_number: PhoneNumber = Field(
        description="The account's number in E.164, e.g. +14155550100."
    )
    engine: Engine = Field(
        Engine.BROWSER, description="Session engine: browser, protocol or local (simulated)."
    )
    suspended: StrictBool = Field(
        False, description="Stop the session (keeping its snapshots) until set back to false."
    )
    deletion_policy: DeletionPolicy = Field(
        DeletionPolicy.RETAIN,
        description="Retain or Delete the snapshots when the account is deleted.",
    )
    snapshot: SnapshotSpec | None = Field(
        None, description="Session backups; without them a new pod needs a fresh QR login."
    )
    restore_from: SnapshotId | None = Field(
        None, description="Snapshot id to restore instead of the latest one."
    )
    lease: LeaseSpec = defaulted(LeaseSpec, "Timings of the Lease that fences the session.")
    resources: ResourceRequirements | None = Field(
        None, description="Runner container resources; per-engine defaults if unset."
    )
    image: ImageRef | None = Field(None, description="Runner image override.")
    local: LocalEngineSpec | None = Field(
        None, description="The simulated peer of engine local (ignored by the other engines)."
    )


# ---------------------------------------------------------------- status


class SnapshotInfo(KubeModel):
    id: SnapshotId = Field(description="Snapshot id.")
    time: datetime = Field(description="When the snapshot was taken.")
    bytes: StrictInt = Field(ge=0, description="Bytes uploaded for this snapshot.")
    seconds: StrictFloat = Field(ge=0, description="Seconds the snapshot took.")


class RestoredFrom(KubeModel):
    """The spec.restoreFrom request a runner carried out (so no start repeats it)."""

    snapshot_id: SnapshotId = Field(description="Snapshot the runner restored.")
    generation: StrictInt | None = Field(
        None, ge=0, description="status.restoreRequest.generation it answered; unset if none yet."
    )


class RestoreRequestStatus(KubeModel):
    """spec.restoreFrom as a one-shot request: recorded when set, consumed once restored."""

    snapshot_id: SnapshotId = Field(description="Snapshot spec.restoreFrom names.")
    generation: StrictInt = Field(ge=0, description="metadata.generation that set it.")
    consumed: StrictBool = Field(
        False, description="A runner restored it; later starts restore the latest snapshot."
    )


class VerifyInfo(KubeModel):
    """The runner's answer to the last wafleet.io/verify-request: was the latest snapshot whole?"""

    request: str = Field(max_length=256, description="The request (annotation value) answered.")
    snapshot_id: SnapshotId | None = Field(
        None, description="Snapshot verified; unset when nothing could be checked."
    )
    time: datetime = Field(description="When the verification finished.")
    ok: StrictBool = Field(description="Every chunk of the snapshot verified.")
    corrupt_chunks: StrictInt = Field(
        0, ge=0, description="Chunks that failed verification (marked for re-upload)."
    )
    missing_chunks: StrictInt = Field(0, ge=0, description="Chunks absent from the store.")
    message: str | None = Field(None, description="Human-readable detail.")


class RunnerReport(KubeModel):
    """Facts the runner reports; the operator turns them into phase and
    conditions. The fencing token lets the operator ignore a stale runner."""

    phase: RunnerPhase = Field(description="What the runner is doing.")
    holder: str | None = Field(None, description="Identity of the runner (pod name).")
    fencing_token: StrictInt | None = Field(
        None, ge=0, description="Fencing token the runner acquired the Lease with."
    )
    login_qr: str | None = Field(None, description="QR payload to scan while awaiting login.")
    last_snapshot: SnapshotInfo | None = Field(
        None, description="Last snapshot the runner completed."
    )
    message: str | None = Field(None, description="Human-readable detail.")
    snapshot_error: str | None = Field(
        None, description="Why the last snapshot attempt failed; cleared by the next success."
    )
    last_verify: VerifyInfo | None = Field(
        None, description="Result of the last on-demand verification (wafleet verify)."
    )
    restored_from: RestoredFrom | None = Field(
        None, description="The spec.restoreFrom request this runner carried out."
    )
    reported_at: datetime = Field(description="When the runner wrote this report.")


class WhatsAppAccountStatus(KubeModel):
    phase: AccountPhase | None = Field(None, description="Summary of the account's state.")
    conditions: list[Condition] = conditions_field(
        "Ready, LeaseHeld, LoggedIn and SnapshotHealthy."
    )
    observed_generation: StrictInt | None = Field(
        None, ge=0, description="metadata.generation the operator last acted on."
    )
    lease_holder: str | None = Field(None, description="Runner currently holding the Lease.")
    fencing_token: StrictInt | None = Field(
        None, ge=0, description="Fencing token of the current holder."
    )
    last_snapshot: SnapshotInfo | None = Field(None, description="Latest completed snapshot.")
    login_qr: str | None = Field(None, description="QR payload to scan while AwaitingLogin.")
    restore_request: RestoreRequestStatus | None = Field(
        None, description="spec.restoreFrom as a one-shot request, and whether it was done."
    )
    runner: RunnerReport | None = Field(None, description="The runner's own report.")


def account_name_problem(name: str) -> str | None:
    """Why no child of an account of this name could be created, or None if all can.

    The Python twin of the CRD's rules on metadata.name; the operator checks it
    too, before it applies anything (a server with an older CRD lets such a name by).
    """
    if len(name) > MAX_ACCOUNT_NAME_LENGTH:
        return (
            f"at most {MAX_ACCOUNT_NAME_LENGTH} characters, so the StatefulSet "
            f"waa-{name} fits Kubernetes' name limits"
        )
    if not re.match(ACCOUNT_NAME_PATTERN, name):
        return (
            f"{name!r} must be lower-case letters, digits and '-' (no dots), starting and "
            f"ending with a letter or digit, so the Service waa-{name} is a valid name"
        )
    return None


def _name_fits(account: WhatsAppAccount) -> bool:
    name = account.metadata.name
    return name is None or len(name) <= MAX_ACCOUNT_NAME_LENGTH


def _name_is_a_label(account: WhatsAppAccount) -> bool:
    name = account.metadata.name
    return name is None or re.match(ACCOUNT_NAME_PATTERN, name) is not None


class WhatsAppAccount(KubeModel):
    #: On the CRD's root: CEL may read metadata.name there (and only there). At create
    #: only (a name never changes): an account an older CRD let in must stay updatable,
    #: or its finalizer could never be removed and it could never be deleted.
    cel_rules = (
        CelRule(
            rule=f"oldSelf.hasValue() || size(self.metadata.name) <= {MAX_ACCOUNT_NAME_LENGTH}",
            message=f"metadata.name must be at most {MAX_ACCOUNT_NAME_LENGTH} characters, "
            "so the StatefulSet waa-<name> fits Kubernetes' name limits",
            check=_name_fits,
            field_path=".metadata.name",
            server_field_path=False,
            optional_old_self=True,
        ),
        CelRule(
            rule=f"oldSelf.hasValue() || self.metadata.name.matches('{ACCOUNT_NAME_PATTERN}')",
            message="metadata.name must be lower-case letters, digits and '-' (no dots), "
            "starting and ending with a letter or digit, so the Service waa-<name> is valid",
            check=_name_is_a_label,
            field_path=".metadata.name",
            server_field_path=False,
            optional_old_self=True,
        ),
    )

    api_version: Literal["wafleet.io/v1alpha1"] = API_VERSION
    kind: Literal["WhatsAppAccount"] = "WhatsAppAccount"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WhatsAppAccountSpec
    status: WhatsAppAccountStatus | None = None


WHATSAPP_ACCOUNT = ResourceInfo(
    kind="WhatsAppAccount",
    plural=ACCOUNT_PLURAL,
    singular="whatsappaccount",
    short_names=("waa",),
    description="A WhatsApp account whose session wafleet runs exactly once and backs up.",
    spec_model=WhatsAppAccountSpec,
    status_model=WhatsAppAccountStatus,
    resource_model=WhatsAppAccount,
    spec_description="Desired state of the account's session.",
    status_description="Observed state, written by the operator (and status.runner by the runner).",
    printer_columns=(
        PrinterColumn("Phone", "string", ".spec.phoneNumber", "Phone number."),
        PrinterColumn("Engine", "string", ".spec.engine", "Session engine."),
        PrinterColumn("Phase", "string", ".status.phase", "Phase of the session."),
        READY_COLUMN,
        PrinterColumn("Holder", "string", ".status.leaseHolder", "Runner holding the Lease."),
        PrinterColumn(
            "Snapshot", "date", ".status.lastSnapshot.time", "Age of the latest snapshot."
        ),
        AGE_COLUMN,
    ),
)
