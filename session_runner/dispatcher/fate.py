"""Whether a delivery is attempted, held for a tombstoned subscription, or dropped. Pure.

A subscription switched off by the dispatcher (tombstoned) says in
`tombstone.heldEvents` what becomes of the events meant for it meanwhile:

- Drop (the default): they are dropped, as for a disabled or deleted one;
- Replay: they wait on the retry queue, looked at every `park_s` (900 s, SQS's
  longest delay), and are delivered once the subscription is resurrected (a
  new generation: its spec changed, or `disabled` went back to false), for at
  most `HOLD_S` after they were first due. Each held event costs one queue
  message per `park_s`: held for a day, 96 receives of it.

A subscription its owner disabled drops its events: that was asked for.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from session_runner.dispatcher.subscriber import Subscriber

#: The longest an event is held for a tombstoned subscription set to Replay.
HOLD_S: Final = 86400.0


class Fate(StrEnum):
    ATTEMPT = "attempt"
    HOLD = "held"
    DROP = "dropped"


def fate(subscriber: Subscriber | None, switched_off: bool, since: float, now: float) -> Fate:
    """`switched_off`: this replica tombstoned it at its current generation and the API
    server does not show that yet; `since`: when the delivery was first due."""
    if subscriber is None or subscriber.disabled:
        return Fate.DROP
    if not (subscriber.tombstoned or switched_off):
        return Fate.ATTEMPT
    if subscriber.replay_held and now - since < HOLD_S:
        return Fate.HOLD
    return Fate.DROP
