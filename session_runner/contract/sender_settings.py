"""What a sender replica (`wafleet-runner sender`) is told about its SenderPool.

The operator fills these from the pool and renders them with `as_env()` into
the sender Deployment; the sender loads them from its environment. Vendor
credentials are not settings: they are files of the pool's credentials
Secret, mounted at `credentials_dir`, never environment values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from session_runner.contract.outbound import TARGET_PATTERN
from session_runner.contract.settings import settings_env

SENDER_ENV_PREFIX: Final = "WAFLEET_SENDER_"
CREDENTIALS_MOUNT_PATH: Final = "/etc/wafleet/vendor"


class SenderSettings(BaseSettings):
    """One pool's sender: where its messages wait, what limits it, how it reaches AWS."""

    model_config = SettingsConfigDict(env_prefix=SENDER_ENV_PREFIX, extra="ignore", frozen=True)

    pool: str = Field(description="The SenderPool's name.")
    namespace: str = Field(default="default", description="Its namespace.")
    pod_name: str = Field(default="local-sender", description="This replica's identity.")
    vendor: str = Field(description="meta-cloud, twilio or session.")
    target: str = Field(pattern=TARGET_PATTERN, description="The pool's routing target.")
    sender_number: str | None = Field(
        default=None, description="The number the pool sends from (E.164), if the vendor needs it."
    )

    queue_url: str
    dead_letter_queue_url: str
    ledger_table: str = "wafleet-outbound-ledger"
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"

    rate_limit_per_second: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    concurrency: int = Field(default=4, ge=1, le=256)
    max_receive_count: int = Field(
        default=5,
        ge=1,
        description="The queue's redrive count: on the last receive a retryable failure is "
        "dead-lettered by the sender itself, so the ledger holds the reason.",
    )
    visibility_timeout_seconds: int = Field(default=60, ge=10)
    claim_seconds: float = Field(
        default=60.0,
        gt=0,
        allow_inf_nan=False,
        description="How long a claim in the ledger lasts without renewal: a replica that dies "
        "mid-send leaves the message to others after this.",
    )
    credentials_dir: Path = Path(CREDENTIALS_MOUNT_PATH)
    vendor_base_url: str | None = Field(
        default=None, description="The vendor API's base URL; its public one when empty."
    )
    status_callback_url: str | None = Field(
        default=None,
        description="Where the vendor posts delivery statuses (Twilio's StatusCallback, with "
        "our message id in its query: the only place Twilio keeps it).",
    )

    health_port: int = Field(default=8081, ge=0, le=65535, description="0 disables the probes.")
    metrics_port: int = Field(default=9090, ge=0, le=65535, description="0 disables /metrics.")
    log_level: str = "info"

    def as_env(self) -> dict[str, str]:
        """The environment that makes `SenderSettings()` load exactly these values."""
        return settings_env(self, SENDER_ENV_PREFIX)
