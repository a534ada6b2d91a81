"""Deliveries waiting their turn, per event and subscription, on the retry queue.

Fresh events arrive on the events queue; every delivery that has to wait (a
retry after a failed attempt, a subscriber whose breaker is open or whose
slots are taken) travels on the retry queue, so fresh events are never queued
behind them. A `DeliveryJob` is one (event, subscription) delivery; on the
queue, the waiting jobs of one event travel together as a `WaitingDeliveries`
message: the event's body once, and per subscription its generation, attempt
number and due time. An event held back from ten dead subscribers is then one
message, not ten: a tenth of the requests, and a tenth of what the queue holds
(the moto server's SQS scans its whole queue on every receive; SQS bills by
request). Deliveries due at about the same time share a message, which wakes
when the last of them is due: each may be made up to a quarter of its wait
late (`latest_start`), so ten dead subscribers' held-back deliveries, each
due when its own breaker reopens, wake once rather than ten times. Deliveries
not yet due when a message wakes go back in one message again. The events
put within a moment of each other that wake at about the same time share a
message too (`packed` into a `WaitingBatch`, up to 50 events): with dead
subscribers every event is held back, and a message per event was a send, a
receive and a delete per event per breaker cycle.

The body is carried as it is POSTed, so every attempt sends the same bytes
under the same `webhook-id`, and each subscription's generation, so a job for
a generation that has since changed (a resurrection, a new URL) is sent under
the subscription as it is now.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from session_runner.events.event import EVENT_ID_PATTERN

#: A delivery due this little later is made with the others of its message that are due,
#: rather than costing the message another trip through the queue.
EARLY_S: Final = 1.0
#: A waiting delivery may be made this share of its wait late, to share a message.
LATE_RATIO: Final = 0.25
#: Deliveries per queue message at most: ~150 bytes each beside the body, well inside
#: SQS's 256 KiB for any body an event can have.
MAX_PER_MESSAGE: Final = 100
#: What one retry-queue message may carry (`packed`): events, and bytes of JSON in all
#: (SQS takes 256 KiB).
MAX_EVENTS_PER_MESSAGE: Final = 50
MAX_MESSAGE_BYTES: Final = 192 * 1024
#: A waiting delivery's JSON beside its event's body, for `packed`'s byte count (~150).
WAITING_BYTES: Final = 200


class DeliveryJob(BaseModel):
    """One delivery: an event, for one subscription, as of its next attempt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    webhook_id: str = Field(pattern=EVENT_ID_PATTERN, description="The event's id, every attempt.")
    namespace: str = Field(min_length=1)
    subscription: str = Field(min_length=1)
    generation: int = Field(ge=0)
    attempt: int = Field(ge=1, description="The number of the attempt this job makes.")
    due_at: float = Field(description="Epoch seconds: not to be attempted before.")
    body: str = Field(min_length=2, description="The event as subscribers receive it (JSON).")
    since: float | None = Field(None, description="When its first attempt was due.")

    @property
    def subscriber_key(self) -> str:
        return f"{self.namespace}/{self.subscription}"

    @property
    def first_due(self) -> float:
        """When its first attempt was due (how long it has been held is counted from it)."""
        return self.due_at if self.since is None else self.since

    def retry(self, due_at: float) -> Self:
        """The next attempt, due at `due_at` (after a failed one)."""
        return self.model_copy(update={"attempt": self.attempt + 1, "due_at": due_at})

    def postponed(self, due_at: float) -> Self:
        """The same attempt, later (nothing was tried: breaker open, no free slot)."""
        return self.model_copy(update={"due_at": due_at})


class Waiting(BaseModel):
    """One subscription's place in a `WaitingDeliveries`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str = Field(min_length=1)
    subscription: str = Field(min_length=1)
    generation: int = Field(ge=0)
    attempt: int = Field(ge=1)
    due_at: float
    since: float | None = None


class WaitingDeliveries(BaseModel):
    """The retry queue's message: one event's waiting deliveries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    webhook_id: str = Field(pattern=EVENT_ID_PATTERN)
    body: str = Field(min_length=2)
    deliveries: list[Waiting] = Field(min_length=1, max_length=MAX_PER_MESSAGE)

    @property
    def wakes_at(self) -> float:
        """When the message comes back: its last delivery's due time (`bundled` puts
        together only deliveries that may wait that long)."""
        return max(waiting.due_at for waiting in self.deliveries)

    def jobs(self) -> list[DeliveryJob]:
        # every field was validated when this was read: not again (ten dead subscribers'
        # held-back deliveries are many of these, and the loop makes them between
        # healthy subscribers' deliveries)
        return [
            DeliveryJob.model_construct(webhook_id=self.webhook_id, body=self.body, **dict(waiting))
            for waiting in self.deliveries
        ]

    def split(self, now: float) -> tuple[list[DeliveryJob], list[DeliveryJob]]:
        """(due now, or within `EARLY_S`; still waiting)."""
        jobs = self.jobs()
        return (
            [job for job in jobs if job.due_at - now <= EARLY_S],
            [job for job in jobs if job.due_at - now > EARLY_S],
        )

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Raises pydantic's ValidationError when `text` is not one."""
        return cls.model_validate_json(text)


class WaitingBatch(BaseModel):
    """The retry queue's message: several events' waiting deliveries, due at about the
    same time (`packed`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    events: list[WaitingDeliveries] = Field(min_length=1, max_length=MAX_EVENTS_PER_MESSAGE)

    @property
    def wakes_at(self) -> float:
        return max(event.wakes_at for event in self.events)

    def to_json(self) -> str:
        return self.model_dump_json()


_ON_THE_QUEUE: TypeAdapter[WaitingBatch | WaitingDeliveries] = TypeAdapter(
    WaitingBatch | WaitingDeliveries
)


def read_waiting(text: str) -> list[WaitingDeliveries]:
    """A retry-queue message's events: a `WaitingBatch`, or one event's `WaitingDeliveries`
    (what dispatchers wrote before batches; some may still be on the queue). Raises
    pydantic's ValidationError when `text` is neither."""
    found = _ON_THE_QUEUE.validate_json(text)
    return found.events if isinstance(found, WaitingBatch) else [found]


def packed(groups: Sequence[WaitingDeliveries], now: float) -> list[list[int]]:
    """`groups` (each one event's, as `bundled` makes them) as retry-queue messages: the
    indices each `WaitingBatch` takes, those waking at about the same time together (none
    woken later than its `latest_start`), within `MAX_EVENTS_PER_MESSAGE` and
    `MAX_MESSAGE_BYTES`. Pure.

    Why across events: ten dead subscribers hold back every event, and a message per
    event was a send, a receive and a delete per event per breaker cycle (and, on the
    moto server, a scan of the whole queue each); the events held back within a put's
    linger now share one."""
    order = sorted(range(len(groups)), key=lambda n: groups[n].wakes_at)
    messages: list[list[int]] = []
    size = 0
    for n in order:
        group = groups[n]
        group_size = len(group.body) + WAITING_BYTES * len(group.deliveries)
        first = groups[messages[-1][0]] if messages else None
        if (
            first is not None
            and len(messages[-1]) < MAX_EVENTS_PER_MESSAGE
            and size + group_size <= MAX_MESSAGE_BYTES
            and group.wakes_at <= latest_start(first.wakes_at, now)
        ):
            messages[-1].append(n)
            size += group_size
        else:
            messages.append([n])
            size = group_size
    return messages


def spread_draw(webhook_id: str) -> float:
    """Where in [0, 1) an event's held-back deliveries fall in the spread after their
    breakers reopen (`breaker.comes_back_at`'s `draw`): a hash of the event's id. Pure.

    Why not a random draw per delivery: subscribers that went down together (an outage,
    or ten dead ones) have breakers that reopen together, and one event's deliveries
    held back by them, each drawn apart over half a cooldown, fell into two or three
    messages (`bundled`), each a send, a receive and a delete. With one draw per event
    they share a message; events still spread evenly, as their ids are random."""
    digest = hashlib.blake2b(webhook_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def latest_start(due_at: float, now: float) -> float:
    """The latest a delivery due at `due_at` may be made, to share a message. Pure."""
    return due_at + max(EARLY_S, LATE_RATIO * (due_at - now))


def bundled(jobs: Iterable[DeliveryJob], now: float) -> list[WaitingDeliveries]:
    """`jobs` as queue messages: per event, those due at about the same time together
    (none woken later than its `latest_start`), at most `MAX_PER_MESSAGE` a message;
    events in the order they first appear. Pure."""
    by_event: dict[str, list[DeliveryJob]] = {}
    for job in jobs:
        by_event.setdefault(job.webhook_id, []).append(job)
    messages = []
    for webhook_id, same_event in by_event.items():
        for group in _by_due_time(same_event, now):
            messages.append(
                WaitingDeliveries(
                    webhook_id=webhook_id,
                    body=group[0].body,
                    deliveries=[  # from validated jobs (see `jobs`)
                        Waiting.model_construct(
                            namespace=job.namespace,
                            subscription=job.subscription,
                            generation=job.generation,
                            attempt=job.attempt,
                            due_at=job.due_at,
                            since=job.since,
                        )
                        for job in group
                    ],
                )
            )
    return messages


def _by_due_time(jobs: list[DeliveryJob], now: float) -> list[list[DeliveryJob]]:
    """Greedy, earliest first: a group takes every delivery due before its first one's
    `latest_start` (the first is the one a later wake-up would hurt most)."""
    groups: list[list[DeliveryJob]] = []
    for job in sorted(jobs, key=lambda job: job.due_at):
        if (
            groups
            and len(groups[-1]) < MAX_PER_MESSAGE
            and job.due_at <= latest_start(groups[-1][0].due_at, now)
        ):
            groups[-1].append(job)
        else:
            groups.append([job])
    return groups
