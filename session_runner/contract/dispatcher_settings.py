"""What the webhook dispatcher (`wafleet-runner dispatcher`) is told.

Everything else it reads from the API server: the WebhookSubscriptions (in
`namespaces`, or all) and their signing Secrets. Queues are given by URL or by
name (anything not starting with `https://` or `http://`), resolved once at
start-up with SQS GetQueueUrl.
"""

from __future__ import annotations

from typing import Final

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from session_runner.contract.settings import networks_ok, settings_env

DISPATCHER_ENV_PREFIX: Final = "WAFLEET_DISPATCHER_"


class DispatcherSettings(BaseSettings):
    """The dispatcher: its queues, its failure windows' table, what it serves and allows."""

    model_config = SettingsConfigDict(env_prefix=DISPATCHER_ENV_PREFIX, extra="ignore", frozen=True)

    events_queue: str = Field(
        default="wafleet-events-dispatcher",
        min_length=1,
        description="The events queue (the operator's events pipeline): URL or name.",
    )
    retry_queue: str = Field(
        default="wafleet-events-retries",
        min_length=1,
        description="Where deliveries wait for their next attempt: URL or name.",
    )
    ledger_table: str = Field(
        default="wafleet-outbound-ledger",
        description="The DynamoDB table the failure windows live in (the ledger's).",
    )
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    namespaces: str = Field(
        default="",
        description="Comma-separated namespaces whose WebhookSubscriptions are served "
        "(where the chart grants the reads); empty: all.",
    )
    allowed_networks: str = Field(
        default="",
        description="Comma-separated networks deliveries may go to besides public addresses "
        "(e.g. 10.0.0.0/8 for in-cluster subscribers). Loopback, private, link-local and "
        "metadata addresses are refused unless listed here.",
    )
    refresh_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="How often subscriptions are listed and signing secrets re-read.",
    )
    concurrency_per_subscriber: int = Field(
        default=8, ge=1, le=1000, description="Attempts in flight to one subscriber."
    )
    in_flight: int = Field(
        default=32, ge=1, le=1000, description="Queue messages in hand at once, per queue."
    )
    status_flush_seconds: float = Field(
        default=5.0, gt=0, le=3600, allow_inf_nan=False, description="Status writes, at most."
    )
    health_port: int = Field(default=8081, ge=0, le=65535, description="0 disables the probes.")
    metrics_port: int = Field(default=9090, ge=0, le=65535, description="0 disables /metrics.")
    log_level: str = "info"

    @field_validator("namespaces")
    @classmethod
    def _strip(cls, value: str) -> str:
        return ",".join(part.strip() for part in value.split(",") if part.strip())

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        return networks_ok(value)

    @property
    def namespace_list(self) -> tuple[str, ...]:
        return tuple(part for part in self.namespaces.split(",") if part)

    def as_env(self) -> dict[str, str]:
        """The environment that makes `DispatcherSettings()` load exactly these values."""
        return settings_env(self, DISPATCHER_ENV_PREFIX)
