"""What the bulk service (in the API process) and the bulk worker (`wafleet-runner bulk-worker`)
are told: where jobs, staged CSVs and messages go, how long a worker's lock lasts, the caps.

Both sides load the same class from their environment (prefix WAFLEET_BULK_), so
the API that stages a job and the worker that publishes it cannot disagree on
the table, the bucket or the caps. AWS credentials are not settings (the usual
credentials chain).
"""

from __future__ import annotations

from typing import Final, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from session_runner.contract.settings import settings_env

BULK_ENV_PREFIX: Final = "WAFLEET_BULK_"
#: S3's smallest part of a multipart upload (but the last).
MIN_PART_BYTES: Final = 5 * 1024 * 1024


class BulkSettings(BaseSettings):
    """One bulk deployment: its table, its staging bucket, the outbound topic, locks and caps."""

    model_config = SettingsConfigDict(env_prefix=BULK_ENV_PREFIX, extra="ignore", frozen=True)

    table: str = Field(
        default="wafleet-bulk-jobs",
        min_length=3,
        description="DynamoDB table of jobs and their per-row errors.",
    )
    ledger_table: str = Field(
        default="wafleet-outbound-ledger",
        min_length=3,
        description="The outbound ledger's table, where the senders and the status forwarders "
        "count each row's outcomes (`bulk.tally`): progress is read from there.",
    )
    bucket: str = Field(min_length=3, description="S3 bucket uploads are staged in.")
    prefix: str = Field(default="bulk/", description="Key prefix of staged uploads.")
    url_buckets: str = Field(
        default="",
        description="Comma-separated buckets an `s3://` URL may name besides `bucket`: the "
        "worker sends what the object holds, so any bucket the role can read would otherwise "
        "be readable through a message to oneself.",
    )
    topic_arn: str = Field(
        min_length=1,
        description="The outbound SNS topic: its ARN, or its name (resolved once at start-up "
        "with SNS CreateTopic, idempotent: it returns the ARN of the operator's topic).",
    )
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"

    pod_name: str = Field(default="local-bulk-worker", description="This worker's identity.")
    lock_seconds: float = Field(
        default=30.0,
        gt=0,
        allow_inf_nan=False,
        description="How long a claim on a job lasts without a heartbeat: a worker that dies "
        "leaves its job to a successor after this.",
    )
    heartbeat_seconds: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    poll_seconds: float = Field(
        default=2.0, gt=0, allow_inf_nan=False, description="How often an idle worker looks."
    )
    cursor_every_batches: int = Field(
        default=50,
        ge=1,
        description="Write the cursor after this many published batches (or cursor_every_"
        "seconds): rows published after the last cursor are published again by a successor, "
        "which is safe (same ids), so a cursor write per batch would only halve throughput.",
    )
    cursor_every_seconds: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    publish_concurrency: int = Field(
        default=4, ge=1, le=64, description="PublishBatch calls in flight at once."
    )
    exit_when_idle: bool = Field(
        default=False,
        description="Exit once no job is pending or running (development, tests, the demo).",
    )

    max_columns: int = Field(default=1_000, ge=1)
    max_header_bytes: int = Field(default=64 * 1024, ge=64)
    max_record_bytes: int = Field(
        default=256 * 1024, ge=64, description="The longest CSV record (its lines together)."
    )
    max_file_bytes: int = Field(default=1024 * 1024 * 1024, ge=1)
    read_chunk_bytes: int = Field(default=256 * 1024, ge=1024)
    upload_part_bytes: int = Field(default=8 * 1024 * 1024, ge=MIN_PART_BYTES)

    metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Prometheus' /metrics here; 0 serves none."
    )
    log_level: str = "info"

    @model_validator(mode="after")
    def _heartbeat_inside_lock(self) -> Self:
        if self.heartbeat_seconds * 2 > self.lock_seconds:
            raise ValueError(
                "heartbeat_seconds must be at most half of lock_seconds (a missed heartbeat "
                "must not lose the lock)"
            )
        return self

    def readable_buckets(self) -> frozenset[str]:
        """Buckets an `s3://` URL may name: the staging bucket and `url_buckets`."""
        extra = {b.strip() for b in self.url_buckets.split(",") if b.strip()}
        return frozenset({self.bucket, *extra})

    def as_env(self) -> dict[str, str]:
        """The environment that makes `BulkSettings()` load exactly these values."""
        return settings_env(self, BULK_ENV_PREFIX)
