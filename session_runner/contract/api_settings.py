"""What the HTTP API (`wafleet-runner api`) is told.

One API install serves one namespace: the accounts and SenderPools it shows
and sends through are that namespace's, and its ServiceAccount's Role is
granted there only. A second namespace is a second install (its own keys,
its own Service), so an API key can never reach past the namespace it was
issued for.

API keys are not settings. They come from a Secret, either mounted as the
file `keys_file` (re-read when it changes, so a rotated key applies without
a restart) or as the environment variable `KEYS_ENV` (read once). Either
holds a JSON (or YAML) list of entries `{name, sha256, targets?, accounts?}`:
the SHA-256 of each key, never the key itself (`session_runner.api.keys`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from session_runner.contract.settings import networks_ok, settings_env

API_ENV_PREFIX: Final = "WAFLEET_API_"
#: Where the chart mounts the keys Secret's `keys.json`.
KEYS_MOUNT_PATH: Final = "/etc/wafleet/api-keys/keys.json"
#: The environment variable that, when set and not empty, holds the key entries instead
#: of the file (for a Secret given through `secretKeyRef`, or a development shell).
KEYS_ENV: Final = "WAFLEET_API_KEYS"
#: Kubernetes' name rule for the namespace (DNS-1123 label).
NAMESPACE_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class ApiSettings(BaseSettings):
    """The API server: the namespace it serves, where messages go, its limits and ports."""

    model_config = SettingsConfigDict(env_prefix=API_ENV_PREFIX, extra="ignore", frozen=True)

    namespace: str = Field(
        default="default",
        pattern=NAMESPACE_PATTERN,
        description="The one namespace whose WhatsAppAccounts and SenderPools this API serves.",
    )
    outbound_topic: str = Field(
        default="wafleet-outbound",
        min_length=1,
        description="The outbound SNS topic: its ARN, or its name (resolved once at start-up "
        "with SNS CreateTopic, idempotent: it returns the ARN of the operator's topic).",
    )
    ledger_table: str = Field(
        default="wafleet-outbound-ledger",
        min_length=3,
        description="The outbound ledger (DynamoDB): where a message's state is read.",
    )
    requests_table: str = Field(
        default="wafleet-outbound-ledger",
        min_length=3,
        description="Where each message the API accepted is recorded (hash key `id`, items "
        "`api-message#<id>`: the body's hash for Idempotency-Key, its target). The ledger's "
        "table by default: the '#' keeps the items apart from "
        "message ids, as the rate limiter's `ratelimit#` items are.",
    )
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535, description="The API (and /healthz).")
    metrics_port: int = Field(
        default=9090,
        ge=0,
        le=65535,
        description="/metrics, on its own port so the API's Service never exposes it; 0: off.",
    )

    keys_file: Path = Field(
        default=Path(KEYS_MOUNT_PATH),
        description=f"The API keys (ignored when {KEYS_ENV} is set).",
    )
    keys_reload_seconds: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        allow_inf_nan=False,
        description="How often the keys file is checked for a change (0: on every request).",
    )

    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest JSON request body; larger ones are refused (413) by their "
        "Content-Length, or as soon as the stream passes it.",
    )
    max_upload_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="Largest CSV upload (`POST /v1/bulk`), streamed and refused (413) once "
        "it passes this.",
    )
    routing_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        allow_inf_nan=False,
        description="How long the namespace's SenderPools and an account's wiring are reused "
        "when routing messages: a burst of sends costs no API-server reads; a new pool is "
        "routable within this time.",
    )
    kube_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, allow_inf_nan=False, description="One API-server read, at most."
    )
    media_check: bool = Field(
        default=True,
        description="HEAD each media URL before accepting the message: 422 when it is not "
        "reachable, not the type the message says, or larger than WhatsApp takes.",
    )
    media_allowed_networks: str = Field(
        default="",
        description="Comma-separated networks media URLs may point to besides public "
        "addresses; loopback, private and metadata addresses are refused unless listed.",
    )
    media_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, allow_inf_nan=False, description="One media HEAD, at most."
    )
    log_level: str = "info"

    @field_validator("media_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        return networks_ok(value)

    def as_env(self) -> dict[str, str]:
        """The environment that makes `ApiSettings()` load exactly these values."""
        return settings_env(self, API_ENV_PREFIX)
