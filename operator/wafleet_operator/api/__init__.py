"""The wafleet.io/v1alpha1 custom resources as pydantic models.

These models are the source of the CRDs in crds/ (``make crds``) and what the
operator parses kopf's ``spec``/``status`` dicts with, e.g.
``WhatsAppAccountSpec.model_validate(spec)``.
"""

from __future__ import annotations

from .common import (
    API_VERSION,
    CEL_ERROR_TYPE,
    GROUP,
    READY,
    VERSION,
    CelRule,
    Condition,
    ConditionStatus,
    KubeModel,
    LocalObjectReference,
    ObjectMeta,
    PrinterColumn,
    ResourceInfo,
    ResourceList,
    ResourceRequirements,
    SecretRef,
    find_condition,
)
from .sender_pool import (
    SENDER_POOL,
    QueueDepth,
    SenderPool,
    SenderPoolReplicas,
    SenderPoolSpec,
    SenderPoolStatus,
    Vendor,
)
from .webhook_subscription import (
    DEFAULT_RETRY_SCHEDULE,
    WEBHOOK_SUBSCRIPTION,
    EventType,
    LastDelivery,
    RetryPolicy,
    SigningSecretRef,
    SubscriptionState,
    TombstonePolicy,
    WebhookSubscription,
    WebhookSubscriptionSpec,
    WebhookSubscriptionStatus,
)
from .whatsapp_account import (
    WHATSAPP_ACCOUNT,
    AccountConditionType,
    AccountPhase,
    DeletionPolicy,
    EncryptionKeySecretRef,
    Engine,
    LeaseSpec,
    LocalEngineSpec,
    LocalLogin,
    RunnerPhase,
    RunnerReport,
    S3CredentialsSecretRef,
    SnapshotInfo,
    SnapshotRetention,
    SnapshotSpec,
    VerifyInfo,
    WhatsAppAccount,
    WhatsAppAccountSpec,
    WhatsAppAccountStatus,
)

#: Every resource, in a fixed order (the order the CRDs are generated in).
RESOURCES: tuple[ResourceInfo, ...] = (WHATSAPP_ACCOUNT, SENDER_POOL, WEBHOOK_SUBSCRIPTION)


def resource_info(name: str) -> ResourceInfo:
    """Look a resource up by kind, plural, singular, short name or CRD name
    (case-insensitive); raises KeyError for anything else."""
    wanted = name.lower()
    for info in RESOURCES:
        names = {info.kind.lower(), info.plural, info.singular, info.crd_name, *info.short_names}
        if wanted in names:
            return info
    raise KeyError(f"not a wafleet.io resource: {name!r}")


__all__ = [
    "API_VERSION",
    "CEL_ERROR_TYPE",
    "DEFAULT_RETRY_SCHEDULE",
    "GROUP",
    "READY",
    "RESOURCES",
    "SENDER_POOL",
    "VERSION",
    "WEBHOOK_SUBSCRIPTION",
    "WHATSAPP_ACCOUNT",
    "AccountConditionType",
    "AccountPhase",
    "CelRule",
    "Condition",
    "ConditionStatus",
    "DeletionPolicy",
    "EncryptionKeySecretRef",
    "Engine",
    "EventType",
    "KubeModel",
    "LastDelivery",
    "LeaseSpec",
    "LocalEngineSpec",
    "LocalLogin",
    "LocalObjectReference",
    "ObjectMeta",
    "PrinterColumn",
    "QueueDepth",
    "ResourceInfo",
    "ResourceList",
    "ResourceRequirements",
    "RetryPolicy",
    "RunnerPhase",
    "RunnerReport",
    "S3CredentialsSecretRef",
    "SecretRef",
    "SenderPool",
    "SenderPoolReplicas",
    "SenderPoolSpec",
    "SenderPoolStatus",
    "SigningSecretRef",
    "SnapshotInfo",
    "SnapshotRetention",
    "SnapshotSpec",
    "SubscriptionState",
    "TombstonePolicy",
    "Vendor",
    "VerifyInfo",
    "WebhookSubscription",
    "WebhookSubscriptionSpec",
    "WebhookSubscriptionStatus",
    "WhatsAppAccount",
    "WhatsAppAccountSpec",
    "WhatsAppAccountStatus",
    "find_condition",
    "resource_info",
]
