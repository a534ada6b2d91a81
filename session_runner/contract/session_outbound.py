"""How the operator tells an account's runner to send a session pool's messages.

A SenderPool with `vendor: session` has no sender Deployment: its messages
must leave through the account's own WhatsApp session, which only the runner
holding the account's Lease may touch. The operator creates the pool's queues
as for any pool, then writes where they are into one annotation on the
account, `wafleet.io/outbound`, as JSON. The runner already polls its
account's annotations (the fence, on-demand requests), so it picks the wiring
up, or drops it, within one poll and without a restart; a StatefulSet
template change would restart the session.

Only the operator writes the annotation. Its value is data the runner
validates like any input: a value that does not parse sends nothing and is
logged, never half applied.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

#: Where the operator puts a session pool's wiring on its account.
OUTBOUND_ANNOTATION: Final = "wafleet.io/outbound"


class SessionOutboundWiring(BaseModel):
    """Everything the account's runner needs to consume its session pool's queue.

    No credentials: the runner reaches SQS and DynamoDB with its own AWS
    identity (its pod's, or the account's snapshot credentials).
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )

    pool: str = Field(min_length=1, description="The SenderPool's name (same namespace).")
    queue_url: str = Field(min_length=1)
    dead_letter_queue_url: str = Field(min_length=1)
    ledger_table: str = Field(min_length=1)
    aws_region: str = Field(min_length=1)
    aws_endpoint_url: str | None = None
    rate_limit_per_second: float = Field(gt=0, allow_inf_nan=False)
    concurrency: int = Field(ge=1, le=256)
    max_receive_count: int = Field(ge=1)
    visibility_timeout_seconds: int = Field(ge=10)
    claim_seconds: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    #: Where the runner publishes its engine's acks and inbound messages as normalised
    #: events (`session_runner.events`); None: it publishes none.
    events_topic_arn: str | None = None

    def to_annotation(self) -> str:
        """Compact, sorted JSON: the same wiring always writes the same value (no churn)."""
        return json.dumps(
            self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":")
        )


def wiring_from_annotations(
    annotations: Mapping[str, str],
) -> tuple[SessionOutboundWiring | None, str | None]:
    """The wiring the account's annotations hold, or None; and what is wrong with a bad value.

    Absent or empty: no session pool sends through this account (no problem).
    """
    value = annotations.get(OUTBOUND_ANNOTATION)
    if not value or not value.strip():
        return None, None
    try:
        return SessionOutboundWiring.model_validate_json(value), None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "value"
        return None, f"annotation {OUTBOUND_ANNOTATION}: {where}: {first.get('msg', 'invalid')}"
