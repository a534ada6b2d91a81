"""A delivery waiting its turn on the retry queue: one event, for one subscription.

Fresh events arrive on the events queue; every delivery that has to wait (a
retry after a failed attempt, a subscriber whose breaker is open or whose
concurrency is used up) travels as a `DeliveryJob` on the retry queue, so
fresh events are never queued behind them. The job carries the event's body
as it is POSTed, so every attempt sends the same bytes under the same
`webhook-id`, and the subscription's generation, so a job for a generation
that has since changed (a resurrection, a new URL) is sent under the
subscription as it is now.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from session_runner.events.event import EVENT_ID_PATTERN


class DeliveryJob(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    webhook_id: str = Field(pattern=EVENT_ID_PATTERN, description="The event's id, every attempt.")
    namespace: str = Field(min_length=1)
    subscription: str = Field(min_length=1)
    generation: int = Field(ge=0)
    attempt: int = Field(ge=1, description="The number of the attempt this job makes.")
    due_at: float = Field(description="Epoch seconds: not to be attempted before.")
    body: str = Field(min_length=2, description="The event as subscribers receive it (JSON).")

    @property
    def subscriber_key(self) -> str:
        return f"{self.namespace}/{self.subscription}"

    def retry(self, due_at: float) -> Self:
        """The next attempt, due at `due_at` (after a failed one)."""
        return self.model_copy(update={"attempt": self.attempt + 1, "due_at": due_at})

    def postponed(self, due_at: float) -> Self:
        """The same attempt, later (nothing was tried: breaker open, no free slot)."""
        return self.model_copy(update={"due_at": due_at})

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Raises pydantic's ValidationError when `text` is not a job."""
        return cls.model_validate_json(text)
