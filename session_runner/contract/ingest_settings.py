"""What the webhook ingest server (`wafleet-runner ingest`) is told, and where its secrets are.

The vendors post delivery statuses and inbound messages to it; it checks each
request's signature with the pool's webhook secrets, turns it into events,
records delivery in the ledger and publishes to the events topic.

Secrets are not settings. With `secrets_source` "kubernetes" (the default, what
the chart deploys) each pool's webhook secrets are read from the API server: the
SenderPool names its credentials Secret, whose keys `WEBHOOK_SECRET_KEYS` lists
for the pool's vendor. With "files" they are files under
`credentials_dir/<namespace>/<pool>/`, one file per key (as a mounted Secret lays
them out), for development and runs outside a cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from session_runner.contract.settings import settings_env

INGEST_ENV_PREFIX: Final = "WAFLEET_INGEST_"
CREDENTIALS_MOUNT_PATH: Final = "/etc/wafleet/webhooks"

#: The secret keys each vendor's webhooks are checked with (keys of the pool's credentials
#: Secret, or files of the pool's folder). Meta: the app secret signs X-Hub-Signature-256;
#: the verify token answers the subscription handshake. Twilio: the account's auth token
#: signs X-Twilio-Signature (the same key the senders call Twilio's API with).
WEBHOOK_SECRET_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "meta-cloud": ("appSecret", "verifyToken"),
    "twilio": ("authToken",),
}

SecretsSource = Literal["kubernetes", "files"]


class IngestSettings(BaseSettings):
    """The ingest server: where it listens, the URL vendors call it by, where events go."""

    model_config = SettingsConfigDict(env_prefix=INGEST_ENV_PREFIX, extra="ignore", frozen=True)

    public_base_url: str = Field(
        pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description="The URL vendors call this server by, without the route (e.g. "
        "https://hooks.example.com/wafleet): Twilio signs the full URL it called, and behind "
        "an ingress or a proxy the Host header is not that URL.",
    )
    events_topic_arn: str = Field(
        min_length=1,
        description="The events SNS topic: its ARN, or its name (anything not starting with "
        "'arn:'), which is resolved once at start-up with SNS CreateTopic (idempotent: it "
        "returns the ARN of the topic the operator made; the identity needs sns:CreateTopic).",
    )
    ledger_table: str = "wafleet-outbound-ledger"
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)

    secrets_source: SecretsSource = Field(
        default="kubernetes",
        description="Where pools' webhook secrets come from: 'kubernetes' reads the "
        "SenderPool and its credentials Secret from the API server (in-cluster, else the "
        "kubeconfig); 'files' reads credentials_dir.",
    )
    secrets_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        allow_inf_nan=False,
        description="kubernetes: how long a pool's answer (its secrets, or that it does not "
        "exist) is reused. A webhook burst costs no API calls; a rotated Secret applies "
        "within this time. 0: ask the API server on every request.",
    )
    namespaces: str = Field(
        default="",
        description="kubernetes: comma-separated namespaces whose pools are served (the "
        "operator's watched namespaces, where the chart grants the reads); empty: all. A "
        "request for a pool elsewhere is answered 404 without asking the API server.",
    )
    credentials_dir: Path = Path(CREDENTIALS_MOUNT_PATH)

    max_body_bytes: int = Field(
        default=1 << 20, ge=1024, description="Larger requests are refused (413)."
    )
    processing_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        allow_inf_nan=False,
        description="A request whose ledger and publish calls take longer is answered 503, "
        "so the vendor sends it again (below Twilio's 15 s and Meta's webhook timeouts).",
    )

    health_port: int = Field(default=8081, ge=0, le=65535, description="0 disables the probes.")
    log_level: str = "info"

    @field_validator("namespaces")
    @classmethod
    def _strip(cls, value: str) -> str:
        return ",".join(part.strip() for part in value.split(",") if part.strip())

    @property
    def namespace_list(self) -> tuple[str, ...]:
        """The served namespaces; empty means all."""
        return tuple(part for part in self.namespaces.split(",") if part)

    def as_env(self) -> dict[str, str]:
        """The environment that makes `IngestSettings()` load exactly these values."""
        return settings_env(self, INGEST_ENV_PREFIX)
