"""The contract between the operator and the session runner.

The operator renders a `RunnerSettings` into the pod's environment
(`as_env()`); the runner loads it back from the environment (`RunnerSettings()`).
One class, so the two sides cannot drift: a field added here is rendered by the
operator and read by the runner without anyone writing its name twice.

Secrets are never settings. AWS credentials reach the pod as environment
variables from Secret references, and the snapshot encryption key as a file
mounted from its Secret; only the file's path is a setting.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "WAFLEET_"


class Engine(StrEnum):
    BROWSER = "browser"
    PROTOCOL = "protocol"
    LOCAL = "local"


class LeaseBackend(StrEnum):
    KUBERNETES = "kubernetes"
    DYNAMODB = "dynamodb"


class RunnerSettings(BaseSettings):
    """Everything a session runner needs to know about its account, from its environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    account_name: str = Field(description="The WhatsAppAccount this runner serves.")
    namespace: str = Field(default="default", description="Namespace of the account.")
    account_uid: str = Field(
        default="",
        description="The WhatsAppAccount's metadata.uid: the snapshot store is bound to it, so "
        "an account recreated under the same name never restores its predecessor's session.",
    )
    pod_name: str = Field(
        default="local-runner",
        description="Lease holder identity: the pod name, unique among the account's runners.",
    )
    engine: Engine = Engine.BROWSER
    phone_number: str = Field(description="The account's phone number (E.164).")

    lease_backend: LeaseBackend = LeaseBackend.KUBERNETES
    lease_name: str = Field(
        default="",
        description="Name of the account's Lease (or DynamoDB item); waa-<account> when empty.",
    )
    lease_duration_seconds: float = Field(default=15.0, gt=0)
    lease_renew_deadline_seconds: float = Field(default=10.0, gt=0)
    lease_retry_period_seconds: float = Field(default=2.0, gt=0)
    lease_dynamodb_table: str = "wafleet-leases"

    session_dir: Path = Path("/var/lib/wafleet/session")
    snapshot_bucket: str | None = None
    snapshot_prefix: str = ""
    snapshot_endpoint_url: str | None = None
    snapshot_region: str = "us-east-1"
    snapshot_interval_seconds: int = Field(default=300, ge=30)
    snapshot_keep_last: int = Field(default=7, ge=1)
    snapshot_keep_within_hours: int | None = Field(default=None, ge=0)
    snapshot_encryption_key_file: Path | None = Field(
        default=None,
        description="Mounted from the encryption-key Secret; the key never enters env.",
    )
    restore_from: str | None = None
    snapshot_adopt_uid: str | None = Field(
        default=None,
        description="spec.snapshot.adoptFromUid: the uid of a deleted account whose retained "
        "snapshots this account may take over (restore, then rebind the store to itself).",
    )

    report_interval_seconds: float = Field(
        default=10.0,
        gt=0,
        allow_inf_nan=False,
        description="While leading: how often the runner checks that the account's "
        "status.runner still says what it reported, and writes it again if not.",
    )
    status_file: Path | None = Field(
        default=None,
        description="Outside Kubernetes: write the runner's report here instead of the account status.",
    )
    stop_timeout_seconds: float = Field(
        default=50.0,
        gt=0,
        allow_inf_nan=False,
        description="On SIGTERM: budget for the engine stop and final snapshot, before the "
        "lease is released anyway (the operator sets the pod's grace period minus a margin).",
    )
    media_allowed_networks: str = Field(
        default="",
        description="Comma-separated networks a media message's URL may point to besides "
        "public addresses (the session downloads the file); others are refused.",
    )
    media_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        le=600,
        allow_inf_nan=False,
        description="One media download, at most (the file is up to 16 MB).",
    )
    health_port: int = Field(default=8081, ge=0, le=65535, description="0 disables the probes.")
    metrics_port: int = Field(default=9090, ge=0, le=65535, description="0 disables /metrics.")
    chromium_path: Path = Path("/usr/bin/chromium")
    wajs_path: Path = Path("/opt/wa-js/wppconnect-wa.js")
    log_level: str = "info"

    @field_validator("media_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        return networks_ok(value)

    @model_validator(mode="after")
    def _default_lease_name(self) -> Self:
        """The operator names every child `waa-<account>`; so does a runner started by hand."""
        if not self.lease_name:
            object.__setattr__(self, "lease_name", f"waa-{self.account_name}")
        return self

    @model_validator(mode="after")
    def _lease_timings_are_safe(self) -> Self:
        """client-go's rule: a holder must give up before anyone else may take over."""
        duration = self.lease_duration_seconds
        deadline = self.lease_renew_deadline_seconds
        retry = self.lease_retry_period_seconds
        if not duration > deadline:
            raise ValueError(
                "lease_duration_seconds must be greater than lease_renew_deadline_seconds"
            )
        if not deadline > 1.2 * retry:
            raise ValueError(
                "lease_renew_deadline_seconds must be greater than 1.2 times lease_retry_period_seconds"
            )
        return self

    def as_env(self) -> dict[str, str]:
        """The environment that makes `RunnerSettings()` load exactly these values.

        Unset optional fields are left out so the runner's defaults apply.
        """
        return settings_env(self, ENV_PREFIX)


def settings_env(settings: BaseSettings, prefix: str) -> dict[str, str]:
    """The environment that makes `type(settings)()` load exactly `settings` (None: left out)."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        env[f"{prefix}{name.upper()}"] = (
            "true" if value is True else "false" if value is False else str(value)
        )
    return env


def networks_ok(text: str) -> str:
    """`text` when it is comma-separated IP networks (a settings validator); else ValueError
    naming the entry that is not one."""
    import ipaddress

    for entry in (part.strip() for part in text.split(",")):
        if entry:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"not an IP network: {entry!r}") from None
    return text
