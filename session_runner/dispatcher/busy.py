"""What a delivery does when its subscriber's attempt slots are all taken. Pure.

Each replica makes at most `concurrency` attempts to one subscriber at once,
so a slow or dead one holds a bounded share of the dispatcher. A delivery
that finds every slot taken has two ways to wait:

- here, for a slot, briefly: right when the subscriber is answering (its
  last attempt succeeded), since its slots free within milliseconds and a
  trip through the retry queue would cost more than the wait;
- on the retry queue, until a slot is sure to be free: when its attempts are
  failing, or none has finished yet (a subscriber that never answers holds
  every slot for its whole timeout, and bouncing the delivery back every
  second until then is most of what ten dead subscribers would cost),
  spread over half a timeout after that, since all of them would otherwise
  come back in the same instant. By the time it comes back, the breaker has
  usually opened, and then it waits for that.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

#: How long a delivery to an answering subscriber waits here for a free slot.
LOCAL_WAIT_S: Final = 1.0
#: The shortest trip through the retry queue for a delivery that found no slot.
MIN_POSTPONE_S: Final = 1.0


@dataclass(frozen=True)
class WhenBusy:
    wait_here_s: float  # wait this long for a slot here first (0: do not)
    postpone_to: float  # then, still no slot: back on the retry queue, due then


def when_busy(
    started: Collection[float],
    timeout_s: float,
    last_succeeded: bool | None,
    now: float,
    draw: float = 0.0,
) -> WhenBusy:
    """`started`: when each attempt holding a slot began; `last_succeeded`: how the
    subscriber's last finished attempt went (None: none has finished); `draw` ∈ [0, 1)
    spreads the deliveries sent back to the queue."""
    sure_free = min(started, default=now) + timeout_s
    if last_succeeded:
        return WhenBusy(LOCAL_WAIT_S, now + LOCAL_WAIT_S + MIN_POSTPONE_S)
    return WhenBusy(0.0, max(now + MIN_POSTPONE_S, sure_free) + draw * timeout_s / 2)
