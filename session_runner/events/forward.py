"""Each event of one webhook: compare with the ledger, publish, record. The thin shell around
`delivery.decide`.

Events are handled one after another, in the order the source listed them,
so a batch that says `delivered` then `read` for one message publishes both.
Any failure (DynamoDB, SNS) propagates: the caller answers the vendor with an
error so the vendor sends the webhook again, and what was already published
is then recognised (recorded) or carries the same id (consumers de-duplicate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from session_runner.bulk.tally import BulkTally, implied_outcomes
from session_runner.events.delivery import UNKNOWN, DeliveryLedger, decide
from session_runner.events.event import Event


class Publisher(Protocol):
    async def publish(self, event: Event) -> str: ...


@dataclass
class Forwarded:
    """What happened to a batch: the ids published, and those held back as already known."""

    published: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


async def forward(
    events: list[Event], deliveries: DeliveryLedger, publisher: Publisher
) -> Forwarded:
    """Publish each event that is news, then record its status in the ledger."""
    done = Forwarded()
    for event in events:
        status = event.type.ack
        recorded = UNKNOWN
        if status is not None and event.message_id is not None:
            recorded = await deliveries.read(event.message_id)
        decision = decide(recorded, status)
        if not decision.publish:
            done.skipped.append(event.id)
            continue
        await publisher.publish(event)
        done.published.append(event.id)
        if decision.record and event.message_id is not None:
            await deliveries.record(event.message_id, event)
            if status is not None:  # a bulk row's delivered/read/failed, for its job's progress
                tally = BulkTally(deliveries.client, deliveries.table)
                await tally.record_quietly(event.message_id, implied_outcomes(status))
    return done
