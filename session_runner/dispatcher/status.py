"""What the dispatcher tells each WebhookSubscription's status, and how it writes it.

The dispatcher owns these status fields of a subscription: `state`,
`failuresLast24h`, `lastDelivery`, `lastError`, and the conditions
`Tombstoned` and `Ready`; other conditions (the operator's) are kept as
they are. `status_patch` (pure, table-tested) computes them from what the
replica saw (`Summary`) and the status as read.

A tombstone is written at once, with a Warning event naming the reason (the
`Tombstoned` condition's `observedGeneration` is the generation switched off:
any spec change makes a new one, and the subscription is live again, see
`subscriber.Subscriber.tombstoned`). Everything else is written at most
every `flush_s` seconds per subscription, so a busy subscriber costs one
status write per period, not one per delivery. Each write reads the object
first and patches with its resourceVersion (409: read again), like the
runner's account reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp

from session_runner.contract.resources import GROUP, VERSION, subscription_path
from session_runner.dispatcher.jobs import DeliveryJob
from session_runner.dispatcher.retry_decision import Decision
from session_runner.dispatcher.subscriber import TOMBSTONED, Subscriber
from session_runner.kube.client import MERGE_PATCH, KubeClient
from session_runner.kube.errors import APIConflictError, APIError, APINotFoundError

log = logging.getLogger(__name__)

DEFAULT_FLUSH_S: Final = 5.0
WRITE_ATTEMPTS: Final = 3
MAX_ERROR_CHARS: Final = 512
ACTIVE: Final = "Active"
DISABLED: Final = "Disabled"
READY: Final = "Ready"
COMPONENT: Final = "wafleet-dispatcher"


@dataclass(frozen=True)
class Summary:
    """What this replica last saw of one subscription generation."""

    generation: int
    delivered_at: datetime | None = None
    status_code: int | None = None
    event_id: str | None = None
    last_error: str | None = None
    failures_24h: int | None = None
    tombstone_reason: str | None = None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(
    current: Sequence[Mapping[str, Any]],
    kind: str,
    status: str,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> dict[str, Any]:
    """A condition; its lastTransitionTime kept when its status did not change."""
    before = next((c for c in current if c.get("type") == kind), None)
    since = _iso(now)
    if before is not None and before.get("status") == status:
        since = str(before.get("lastTransitionTime") or since)
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message[:MAX_ERROR_CHARS],
        "observedGeneration": generation,
        "lastTransitionTime": since,
    }


def status_patch(
    current: Mapping[str, Any], summary: Summary, *, disabled: bool, now: datetime
) -> dict[str, Any]:
    """The `status` of a merge patch: the dispatcher's fields from `summary`, conditions
    merged into `current["conditions"]` (others' kept, in their order). Pure."""
    conditions: list[Mapping[str, Any]] = list(current.get("conditions") or [])
    gen = summary.generation
    if summary.tombstone_reason is not None:
        state = TOMBSTONED
        tombstoned = _condition(
            conditions, TOMBSTONED, "True", "TooManyFailures", summary.tombstone_reason, gen, now
        )
        if summary.tombstone_reason.startswith("HTTP 410"):
            tombstoned["reason"] = "Gone"
        ready = _condition(
            conditions,
            READY,
            "False",
            "Tombstoned",
            "deliveries stopped: " + tombstoned["message"],
            gen,
            now,
        )
    elif disabled:
        state = DISABLED
        tombstoned = _condition(conditions, TOMBSTONED, "False", "Live", "not tombstoned", gen, now)
        ready = _condition(
            conditions, READY, "False", "Disabled", "spec.disabled is true", gen, now
        )
    else:
        state = ACTIVE
        tombstoned = _condition(conditions, TOMBSTONED, "False", "Live", "not tombstoned", gen, now)
        ready = _condition(conditions, READY, "True", "Delivering", "deliveries go out", gen, now)
    mine = {TOMBSTONED: tombstoned, READY: ready}
    merged = [mine.pop(c.get("type"), c) for c in conditions]  # type: ignore[arg-type]
    merged += list(mine.values())
    patch: dict[str, Any] = {"state": state, "conditions": merged}
    if summary.failures_24h is not None:
        patch["failuresLast24h"] = summary.failures_24h
    if summary.delivered_at is not None:
        delivery: dict[str, Any] = {"time": _iso(summary.delivered_at)}
        if summary.status_code is not None:
            delivery["statusCode"] = summary.status_code
        if summary.event_id is not None:
            delivery["eventId"] = summary.event_id
        patch["lastDelivery"] = delivery
    if summary.last_error is not None:
        patch["lastError"] = summary.last_error[:MAX_ERROR_CHARS]
    return patch


class KubeStatusWriter:
    """A `worker.Reporter` that writes the subscriptions' status (see the module docstring)."""

    def __init__(self, kube: KubeClient, *, flush_s: float = DEFAULT_FLUSH_S) -> None:
        self.kube = kube
        self.flush_s = flush_s
        self._seen: dict[str, tuple[Subscriber, Summary]] = {}
        self._dirty: set[str] = set()

    def _summary(self, subscriber: Subscriber) -> Summary:
        seen = self._seen.get(subscriber.key)
        if seen is None or seen[1].generation != subscriber.generation:
            return Summary(subscriber.generation)
        return seen[1]

    def _note(self, subscriber: Subscriber, summary: Summary) -> None:
        self._seen[subscriber.key] = (subscriber, summary)
        self._dirty.add(subscriber.key)

    async def delivered(self, subscriber: Subscriber, job: DeliveryJob, status: int) -> None:
        summary = replace(
            self._summary(subscriber),
            delivered_at=datetime.now(UTC),
            status_code=status,
            event_id=job.webhook_id,
        )
        self._note(subscriber, summary)

    async def failed(
        self,
        subscriber: Subscriber,
        job: DeliveryJob,
        decision: Decision,
        failures_24h: int,
        status: int | None = None,
    ) -> None:
        summary = replace(
            self._summary(subscriber),
            delivered_at=datetime.now(UTC),
            status_code=status,
            event_id=job.webhook_id,
            last_error=decision.reason,
            failures_24h=failures_24h,
        )
        self._note(subscriber, summary)

    async def tombstoned(self, subscriber: Subscriber, reason: str, failures_24h: int) -> None:
        summary = replace(
            self._summary(subscriber),
            tombstone_reason=reason,
            last_error=reason,
            failures_24h=failures_24h,
        )
        self._note(subscriber, summary)
        await self._write(subscriber.key)
        await self._event(subscriber, "Tombstoned", f"deliveries stopped: {reason}")

    async def flush(self) -> None:
        """Write every subscription whose summary changed since the last flush."""
        for key in sorted(self._dirty):
            await self._write(key)

    async def keep_written(self, stop: asyncio.Event) -> None:
        """Flush every `flush_s` until `stop`, and once more at the end."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.flush_s)
            await self.flush()

    async def _write(self, key: str) -> None:
        seen = self._seen.get(key)
        if seen is None:
            return
        subscriber, summary = seen
        self._dirty.discard(key)
        path = subscription_path(subscriber.namespace, subscriber.name)
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                obj = await self.kube.request("GET", path)
                if int((obj.get("metadata") or {}).get("generation") or 0) != summary.generation:
                    return  # the spec changed since: the next deliveries report on the new one
                patch = status_patch(
                    obj.get("status") or {},
                    summary,
                    disabled=bool((obj.get("spec") or {}).get("disabled", False)),
                    now=datetime.now(UTC),
                )
                version = (obj.get("metadata") or {}).get("resourceVersion")
                body = {"metadata": {"resourceVersion": version}, "status": patch}
                await self.kube.request("PATCH", f"{path}/status", body, content_type=MERGE_PATCH)
                return
            except APINotFoundError:
                self._seen.pop(key, None)  # deleted: nothing to report on
                return
            except APIConflictError:
                if attempt == WRITE_ATTEMPTS:
                    self._dirty.add(key)  # the next flush tries again
                continue
            except (APIError, aiohttp.ClientError, OSError, TimeoutError) as error:
                log.warning("writing the status of %s failed: %s", key, error)
                self._dirty.add(key)
                return

    async def _event(self, subscriber: Subscriber, reason: str, message: str) -> None:
        """A Warning event on the subscription, as `kubectl describe` shows them."""
        now = _iso(datetime.now(UTC))
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{subscriber.name}.", "namespace": subscriber.namespace},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "WebhookSubscription",
                "name": subscriber.name,
                "namespace": subscriber.namespace,
            },
            "reason": reason,
            "message": message[:MAX_ERROR_CHARS],
            "type": "Warning",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "source": {"component": COMPONENT},
        }
        try:
            await self.kube.request(
                "POST", f"/api/v1/namespaces/{subscriber.namespace}/events", body
            )
        except (APIError, aiohttp.ClientError, OSError, TimeoutError) as error:
            log.warning("an event for %s could not be written: %s", subscriber.key, error)
