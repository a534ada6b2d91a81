"""The operator's own settings, read once at startup from its environment.

The chart renders these variables; outside a cluster they come from the shell.
Handlers receive the loaded settings; nothing reads the environment later.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from session_runner.contract.annotations import FENCED_ANNOTATION as FENCED_ANNOTATION

FINALIZER = "wafleet.io/finalizer"
#: kopf keeps its progress under this prefix. It must differ from "wafleet.io": kopf
#: ignores every annotation under its storage prefix, and users set wafleet.io/fenced.
ANNOTATION_PREFIX = "operator.wafleet.io"


class OperatorSettings(BaseSettings):
    """How this operator process runs: what it watches, which images it deploys, where it listens."""

    model_config = SettingsConfigDict(env_prefix="WAFLEET_", extra="ignore", frozen=True)

    namespace: str = Field(
        default="",
        description="Comma-separated namespaces to watch; empty watches all namespaces.",
    )
    runner_image: str = Field(default="wafleet/runner:0.1.0")
    runner_image_allow_list: str = Field(
        default="",
        description="Comma-separated images an account's spec.image may name, besides "
        "runner_image; an entry ending in * allows every image starting with the rest.",
    )
    runner_image_pull_policy: str = Field(default="IfNotPresent")
    log_level: str = Field(default="info", pattern="^(debug|info|warning|error)$")
    log_format: str = Field(default="json", pattern="^(json|console)$")
    peering: str = Field(
        default="",
        description="kopf peering name; set when more than one operator replica runs.",
    )
    metrics_port: int = Field(default=8080, ge=0, le=65535, description="0 disables metrics.")
    health_port: int = Field(default=8081, ge=0, le=65535, description="0 disables probes.")
    watch_server_timeout_s: int = Field(default=300, ge=10)
    watch_client_timeout_s: int = Field(default=330, ge=10)
    api_request_timeout_s: float = Field(default=30.0, gt=0)
    resync_interval_s: float = Field(
        default=600.0,
        gt=0,
        description="Safety net: re-apply every account's children this often even without events.",
    )

    # -- outbound: where SenderPools' queues, topic and ledger live (AWS or a compatible API)
    aws_endpoint_url: str | None = Field(
        default=None, description="SQS/SNS/DynamoDB endpoint; AWS's own when empty."
    )
    aws_region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
    outbound_topic: str = Field(
        default="wafleet-outbound",
        pattern=r"^[A-Za-z0-9_-]{1,256}$",
        description="The one SNS topic producers publish to; each pool's queue subscribes.",
    )
    outbound_queue_prefix: str = Field(
        default="wafleet",
        pattern=r"^[A-Za-z0-9_-]{1,20}$",
        description="Pools' queues are named <prefix>-<namespace>-<pool>.",
    )
    outbound_ledger_table: str = Field(
        default="wafleet-outbound-ledger",
        pattern=r"^[A-Za-z0-9_.-]{3,255}$",
        description="DynamoDB table of the exactly-once ledger and the pools' rate limiters.",
    )

    vendor_base_urls: str = Field(
        default="",
        description="Comma-separated vendor=URL pairs sending a vendor's API calls to another "
        "base URL (a stand-in for tests and demos). Operator-wide on purpose: a per-pool "
        "setting would let a pool's author send the pool's credentials anywhere.",
    )
    ingest_public_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description="The webhook ingest's public URL (the chart sets it with ingest.enabled): "
        "Twilio senders ask for status callbacks at <it>/twilio/<namespace>/<pool>.",
    )
    pool_sync_interval_s: float = Field(
        default=15.0,
        gt=0,
        description="How often each SenderPool's queue depth is read, its senders scaled "
        "(spec.scaling.provider operator) and its status written.",
    )

    @field_validator("namespace", "runner_image_allow_list")
    @classmethod
    def _strip(cls, value: str) -> str:
        return ",".join(part.strip() for part in value.split(",") if part.strip())

    def vendor_base_url(self, vendor: str) -> str | None:
        """The base URL `vendor_base_urls` sets for `vendor`, if any."""
        for pair in self.vendor_base_urls.split(","):
            name, _, url = pair.strip().partition("=")
            if name.strip() == vendor and url.strip():
                return url.strip()
        return None

    @property
    def allowed_runner_images(self) -> frozenset[str]:
        """What spec.image may name: the runner image, and whatever the allow-list adds.

        The runner's pod is given the account's Secrets and a token that may
        write its Lease and its account's status, so an image from anywhere would
        be handed all of that; by default only the image this operator deploys anyway.
        """
        extra = (part for part in self.runner_image_allow_list.split(",") if part)
        return frozenset({self.runner_image, *extra})

    @property
    def namespaces(self) -> list[str]:
        """The namespaces to watch; empty means the whole cluster."""
        return [part for part in self.namespace.split(",") if part]
