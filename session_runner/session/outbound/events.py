"""The account's engine events (acks, inbound messages) → normalised events on the events topic.

While a session pool is wired to the account with an events topic, every
`MessageAck` and `InboundMessage` of the engine becomes one `Event`
(`events.from_engine`), named with our message id when this runner sent the
message, and goes through the same `forward` the vendor webhooks use: an ack
that does not move the message forward in the ledger is held back, one that
does is published and then recorded, so `wafleet send --wait` sees it.

Publishing happens off the runner's event loop path: a slow SNS never delays
the session. A failure is logged and dropped (the engine does not repeat its
acks); the ledger keeps the send itself either way.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from session_runner.aws_location import client_location
from session_runner.contract.session_outbound import SessionOutboundWiring
from session_runner.events.delivery import DeliveryLedger
from session_runner.events.forward import forward
from session_runner.events.from_engine import from_engine
from session_runner.events.publish import EventPublisher
from session_runner.session.engines.events import EngineEvent, InboundMessage, MessageAck

log = logging.getLogger(__name__)


def carries_event(event: EngineEvent) -> bool:
    """Whether subscribers are told about this engine event."""
    return isinstance(event, MessageAck | InboundMessage)


class EventForwarder:
    """Publishes one account's message events to the wiring's events topic."""

    def __init__(
        self, wiring: SessionOutboundWiring, *, namespace: str, account: str, phone: str | None
    ) -> None:
        assert wiring.events_topic_arn is not None
        import boto3

        from session_runner.dynamodb import client_config

        common = client_location(wiring.aws_region, wiring.aws_endpoint_url)
        self.wiring = wiring
        self._publisher = EventPublisher(boto3.client("sns", **common), wiring.events_topic_arn)
        self._deliveries = DeliveryLedger(
            boto3.client("dynamodb", config=client_config(5.0), **common), wiring.ledger_table
        )
        self._namespace, self._account, self._phone = namespace, account, phone
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, event: EngineEvent, message_id: str | None) -> None:
        """Forward `event` in the background (our `message_id` when we know it)."""
        normalised = from_engine(
            event,
            namespace=self._namespace,
            account=self._account,
            phone=self._phone,
            message_id=message_id,
        )
        if normalised is None:
            return
        task = asyncio.create_task(self._forward(normalised))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward(self, event: Any) -> None:
        try:
            await forward([event], self._deliveries, self._publisher)
        except Exception as error:
            log.warning("event %s not published: %s", event.id, type(error).__name__)

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Let the publishes in flight finish (bounded)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
