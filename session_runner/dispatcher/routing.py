"""Which subscriptions an event goes to. Pure.

A subscription names coarse event types (the CRD's `eventTypes`); events
carry fine ones (`session_runner.events.event.EventType`). `message.status`
is every status of an outbound message (sent, delivered, read, failed),
`message.received` an inbound message. `account.status` and `account.qr` have
no events yet: a subscription may name them and receives nothing for them.

A subscription only sees events of its own namespace (a tenant's webhooks never
carry another tenant's messages). With `accounts` set it sees only events of
those WhatsAppAccounts, so not the events of a vendor pool (they belong to no
account); without, everything in its namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from session_runner.dispatcher.subscriber import Subscriber
from session_runner.events.event import Event, EventType

#: The CRD's event types, and the events each one covers.
SUBSCRIPTION_TYPES: Final[Mapping[str, frozenset[EventType]]] = {
    "message.received": frozenset({EventType.INBOUND}),
    "message.status": frozenset(
        {EventType.SENT, EventType.DELIVERED, EventType.READ, EventType.FAILED}
    ),
    "account.status": frozenset(),
    "account.qr": frozenset(),
}


def wants(subscriber: Subscriber, event: Event) -> bool:
    """Whether `subscriber` asked for `event` (live or not: see `routes`)."""
    if subscriber.namespace != event.namespace:
        return False
    if not any(event.type in SUBSCRIPTION_TYPES.get(t, ()) for t in subscriber.event_types):
        return False
    return not subscriber.accounts or event.account in subscriber.accounts


def routes(event: Event, subscribers: Iterable[Subscriber]) -> list[Subscriber]:
    """The live subscribers that want `event`, by key (a stable order for logs and tests)."""
    return sorted((s for s in subscribers if s.live and wants(s, event)), key=lambda s: s.key)
