"""When the account's runner consumes its session pool's queue. Pure.

Only the runner that holds the account's Lease, with an engine that is
logged in and connected, may send: its ledger writes carry its fencing token,
so a deposed runner cannot record a send even if one slipped out. Anything
else (standby, fenced, logged out, no pool) leaves the messages queued, where
they wait for the next leader instead of using up their receive count.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from session_runner.contract.session_outbound import SessionOutboundWiring


@dataclass(frozen=True)
class Consuming:
    """A consumer the runner runs (or wants): which queue, under which fencing token."""

    wiring: SessionOutboundWiring
    token: int


class OutboundStep(StrEnum):
    KEEP = "keep"  # what runs is what is wanted (or nothing runs and nothing is wanted)
    START = "start"
    STOP = "stop"
    RESTART = "restart"  # another pool's wiring, or a new token: stop, then start anew


def wanted_consumer(
    wiring: SessionOutboundWiring | None, token: int | None, *, engine_ready: bool
) -> Consuming | None:
    """What should consume now: the wiring under our token, only while leading and ready."""
    if wiring is None or token is None or not engine_ready:
        return None
    return Consuming(wiring, token)


def outbound_step(running: Consuming | None, wanted: Consuming | None) -> OutboundStep:
    """How to get from what runs to what is wanted."""
    if running == wanted:
        return OutboundStep.KEEP
    if running is None:
        return OutboundStep.START
    if wanted is None:
        return OutboundStep.STOP
    return OutboundStep.RESTART
