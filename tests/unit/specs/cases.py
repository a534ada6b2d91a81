"""The accounts the golden files are rendered from: one per way an account can look."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wafleet_operator.api import WhatsAppAccount, WhatsAppAccountSpec
from wafleet_operator.config import OperatorSettings
from wafleet_operator.specs.account import AccountRef

#: Fixed, so the golden files do not depend on the environment the tests run in.
SETTINGS = OperatorSettings(
    runner_image="ghcr.io/wafleet/runner:0.1.0", runner_image_pull_policy="IfNotPresent"
)


@dataclass(frozen=True)
class Case:
    """A WhatsAppAccount as the API server would hand it to the operator."""

    name: str
    namespace: str
    uid: str
    spec: dict[str, Any]

    def body(self) -> dict[str, Any]:
        return {
            "apiVersion": "wafleet.io/v1alpha1",
            "kind": "WhatsAppAccount",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                "generation": 3,
            },
            "spec": self.spec,
        }

    @property
    def account(self) -> AccountRef:
        return AccountRef.from_account(WhatsAppAccount.model_validate(self.body()))

    @property
    def parsed(self) -> WhatsAppAccountSpec:
        return WhatsAppAccountSpec.model_validate(self.spec)


CASES: dict[str, Case] = {
    # The production shape: a browser session backed up to MinIO with static keys.
    "browser-snapshots": Case(
        name="demo",
        uid="5d0c2a4e-8f1b-4c6e-9a3d-7b2e1f0a9c01",
        namespace="default",
        spec={
            "phoneNumber": "+14155550100",
            "engine": "browser",
            "snapshot": {
                "bucket": "wafleet-sessions",
                "prefix": "accounts/demo",
                "endpoint": "http://minio.storage.svc:9000",
                "region": "eu-west-1",
                "credentialsSecret": {
                    "name": "demo-s3",
                    "accessKeyIdKey": "access-key",
                    "secretAccessKeyKey": "secret-key",
                },
                "encryptionKeySecret": {"name": "demo-snapshot-key", "key": "kek"},
                "intervalSeconds": 600,
                "retention": {"keepLast": 5, "keepWithinHours": 48},
            },
            "restoreFrom": "01J9Z6Q4W8T5X2B3C4D5E6F7G8",
        },
    ),
    # Suspended: no pod, every other child kept; snapshots with ambient AWS credentials.
    "protocol-suspended": Case(
        name="sales",
        uid="5d0c2a4e-8f1b-4c6e-9a3d-7b2e1f0a9c02",
        namespace="tenant-a",
        spec={
            "phoneNumber": "+447700900123",
            "engine": "protocol",
            "suspended": True,
            "snapshot": {
                "bucket": "tenant-a-sessions",
                "encryptionKeySecret": {"name": "sales-kek"},
            },
        },
    ),
    # The simulated engine without any store: what the local demo runs.
    "local-no-snapshots": Case(
        name="sim",
        uid="5d0c2a4e-8f1b-4c6e-9a3d-7b2e1f0a9c03",
        namespace="default",
        spec={"phoneNumber": "+15005550006", "engine": "local"},
    ),
    # Overrides: a pinned image, explicit resources, slower lease timings.
    "custom-image-resources": Case(
        name="vip",
        uid="5d0c2a4e-8f1b-4c6e-9a3d-7b2e1f0a9c04",
        namespace="default",
        spec={
            "phoneNumber": "+491701234567",
            "engine": "protocol",
            "image": "registry.example.com/wafleet/runner:0.2.0-rc1",
            "resources": {
                "requests": {"cpu": 1, "memory": "256Mi"},
                "limits": {"memory": "1Gi"},
            },
            "lease": {
                "durationSeconds": 30,
                "renewDeadlineSeconds": 20,
                "retryPeriodSeconds": 4,
            },
            "deletionPolicy": "Delete",
        },
    ),
}

CASE_IDS = list(CASES)
