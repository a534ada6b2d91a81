"""Normalised message events: vendor webhooks, engine acks and inbound messages as one type.

`event.py` is the contract (what the dispatcher and subscribers see);
`from_meta`, `from_twilio`, `from_engine` turn each source into it (pure);
`delivery.py` keeps each outbound message's furthest status in its ledger
item; `forward.py` publishes what is news through `publish.py` to the events
topic that `pipeline.py` ensures, with the dispatcher's queue behind it.
"""

from session_runner.events.event import Event, EventType, Source, event_id

__all__ = ["Event", "EventType", "Source", "event_id"]
