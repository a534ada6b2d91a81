"""Change records and per-client watch buffers.

Every committed write becomes one `Change` with a fresh global
resourceVersion. The store keeps a bounded history of them (like etcd before
compaction) so a watch can resume from a resourceVersion, and fans each change
out to the live `Watcher`s. A watcher turns changes into the events a real
server sends *for its selector*: an object that starts matching arrives as
ADDED, one that stops matching as DELETED.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .selectors import FieldSelector, LabelSelector

Obj = dict[str, Any]

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"


@dataclass(frozen=True)
class Change:
    """One committed write. `obj`/`old` are never mutated after commit, so they are shared."""

    resource_version: int
    type: str
    storage_key: tuple[str, str]
    namespace: str
    obj: Obj
    old: Obj | None


@dataclass(eq=False)
class Watcher:
    """One open watch: what it selects and the events waiting to be written to it."""

    storage_key: tuple[str, str]
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    # Called (under the store lock, from any thread) when events were queued.
    notify: Callable[[], None] = lambda: None
    events: deque[tuple[str, Obj]] = field(default_factory=deque)
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def selects(self, obj: Obj | None) -> bool:
        return obj is not None and self.labels.matches(obj) and self.fields.matches(obj)

    def translate(self, change: Change) -> tuple[str, Obj] | None:
        """The event this watcher must see for `change`, or None."""
        if change.storage_key != self.storage_key:
            return None
        if self.namespace is not None and change.namespace != self.namespace:
            return None
        now, before = self.selects(change.obj), self.selects(change.old)
        if change.type == DELETED:
            return (DELETED, change.obj) if now else None
        if change.type == ADDED:
            return (ADDED, change.obj) if now else None
        if now and before:
            return (MODIFIED, change.obj)
        if now:
            return (ADDED, change.obj)
        if before:
            return (DELETED, change.obj)
        return None

    def offer(self, change: Change) -> None:
        event = self.translate(change)
        if event is not None and not self.closed:
            with self._lock:
                self.events.append(event)
            self.notify()

    def take(self) -> list[tuple[str, Obj]]:
        with self._lock:
            taken = list(self.events)
            self.events.clear()
        return taken

    def close(self) -> None:
        self.closed = True
        self.notify()
