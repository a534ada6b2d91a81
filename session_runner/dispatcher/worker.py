"""The dispatcher's loop: fresh events fan out, waiting deliveries come back, each attempt settled.

    events queue ─► an event: `routing.routes` → one first attempt per live subscriber,
                    all at once ─► deleted once every one is settled
    retry queue  ─► a `WaitingBatch` of events' waiting deliveries: those due → their
                    attempts, all at once; the rest (and what must wait again) back
                    (≤ 900 s a time) ─► deleted; received ten a call (`receive_pause`),
                    its handlers taking turns: one event's deliveries a turn of the loop

    one delivery:  subscriber gone, disabled or tombstoned → dropped (tombstoned with
                     heldEvents: Replay → held on the retry queue, `fate.py`)
                   breaker open → postponed until it reopens, at the event's point of
                     the spread (`jobs.spread_draw`; not an attempt: nothing was tried);
                   its `concurrency` in use → `busy.when_busy`: a brief wait here, or
                     postponed until a slot is sure to be free
                   signing secret unusable, API server away → postponed (its error logged)
                   else signed, attempted, `retry_decision.after_attempt`:
                     delivered → done
                     failed → counted in the shared 24 h window (`failures`); over the
                       limit, or 410 → tombstoned; retryable → the next attempt on the
                       retry queue
                   what must wait goes onto the retry queue: an event's together, and
                     events put within `retry_put_linger_s` that wake together in one
                     message (`jobs.bundled`, `jobs.packed`)

At least once: a queue message is deleted only after everything it asked for
is settled (delivered, failed, or the next attempt queued), so a dispatcher
killed mid-way leaves it to come back, and its deliveries are made again
under the same `webhook-id`. Isolation: fresh events never wait behind
retries (two queues, two loops, each with its own bound on messages in
hand), and a slow or dead subscriber holds at most its `concurrency` of
attempts, its breaker then keeping it from being tried at all.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Protocol

import aiohttp
from pydantic import ValidationError

from session_runner.dispatcher.attempt import attempt
from session_runner.dispatcher.breaker import Breaker, after, comes_back_at, probe
from session_runner.dispatcher.busy import WhenBusy, when_busy
from session_runner.dispatcher.directory import DirectoryError
from session_runner.dispatcher.failure_window import in_window, over_limit
from session_runner.dispatcher.failures import FailureStore, FailureStoreError
from session_runner.dispatcher.fate import Fate, fate
from session_runner.dispatcher.jobs import (
    DeliveryJob,
    WaitingBatch,
    WaitingDeliveries,
    bundled,
    packed,
    read_waiting,
    spread_draw,
)
from session_runner.dispatcher.retry_decision import (
    Decision,
    Verdict,
    after_attempt,
    hold_for,
    retryable,
)
from session_runner.dispatcher.routing import routes
from session_runner.dispatcher.signing import SigningSecretError, delivery_headers
from session_runner.dispatcher.subscriber import Subscriber
from session_runner.dispatcher.url_safety import Network
from session_runner.events.event import Event
from session_runner.sender.batching import MAX_BATCH, Coalescer
from session_runner.sender.queue import PoolQueue, QueueMessage, SendError
from session_runner.signals import wait_unless_stopped

log = logging.getLogger(__name__)

#: ... whose signing secret cannot be read or used (the error is logged each time).
SECRET_POSTPONE_S: Final = 30.0


class Slots:
    """One subscriber's attempt slots in this replica: `concurrency` of them, when each
    taken one was taken, and how the last attempt went (`busy.when_busy` reads both)."""

    def __init__(self, concurrency: int) -> None:
        self._free = asyncio.Semaphore(concurrency)
        self._started: list[float] = []  # when each slot taken was taken
        self.last_succeeded: bool | None = None

    def busy(self, timeout_s: float, now: float, draw: float = 0.0) -> WhenBusy:
        return when_busy(self._started, timeout_s, self.last_succeeded, now, draw)

    async def take(self, now: float, timeout_s: float = 0.0) -> bool:
        """A slot now; or, all taken and `when_busy` says so, after waiting for one briefly.
        False: none came."""
        if not self._free.locked():
            await self._free.acquire()
        else:
            wait = self.busy(timeout_s, now).wait_here_s
            if wait <= 0:
                return False
            try:
                await asyncio.wait_for(self._free.acquire(), wait)
            except TimeoutError:
                return False
        self._started.append(now)
        return True

    def give_back(self, taken_at: float) -> None:
        self._started.remove(taken_at)
        self._free.release()


class Directory(Protocol):
    """Where subscriptions and their signing secrets come from (`directory.KubeDirectory`)."""

    def subscribers(self) -> list[Subscriber]: ...

    def get(self, key: str) -> Subscriber | None: ...

    async def secrets(self, subscriber: Subscriber) -> list[str]: ...


class Reporter(Protocol):
    """Who hears how deliveries went (the subscription's status and events, metrics)."""

    async def delivered(self, subscriber: Subscriber, job: DeliveryJob, status: int) -> None: ...

    async def failed(
        self,
        subscriber: Subscriber,
        job: DeliveryJob,
        decision: Decision,
        failures_24h: int,
        status: int | None = None,
    ) -> None: ...

    async def tombstoned(self, subscriber: Subscriber, reason: str, failures_24h: int) -> None: ...


class LogReporter:
    """Reports as log lines: what a dispatcher without a status writer does."""

    async def delivered(self, subscriber: Subscriber, job: DeliveryJob, status: int) -> None:
        log.debug("delivered", extra={"subscription": subscriber.key, "webhook_id": job.webhook_id})

    async def failed(
        self,
        subscriber: Subscriber,
        job: DeliveryJob,
        decision: Decision,
        failures_24h: int,
        status: int | None = None,
    ) -> None:
        log.info(
            "delivery failed",
            extra={
                "subscription": subscriber.key,
                "webhook_id": job.webhook_id,
                "attempt": job.attempt,
                "verdict": decision.verdict.value,
                "reason": decision.reason,
                "failures_24h": failures_24h,
            },
        )

    async def tombstoned(self, subscriber: Subscriber, reason: str, failures_24h: int) -> None:
        log.warning(
            "subscription tombstoned",
            extra={"subscription": subscriber.key, "reason": reason, "failures_24h": failures_24h},
        )


@dataclass(frozen=True)
class DispatcherConfig:
    allowed: tuple[Network, ...] = ()  # networks deliveries may go to beyond public ones
    #: Attempts in flight to one subscriber from this replica; more wait on the retry queue.
    concurrency_per_subscriber: int = 8
    #: Queue messages in hand at once, per queue (each a fan-out or one delivery).
    in_flight: int = 32
    receive_wait_s: int = 20
    #: How often deliveries held for a tombstoned subscription (heldEvents: Replay) are
    #: looked at: SQS's longest delay, so each costs one message per 15 minutes.
    park_s: float = 900.0
    #: The retry loop's pause after a receive that came back short (`receive_pause`).
    retry_receive_pause_s: float = 1.0
    #: How long a put on the retry queue waits for others to share its message and call
    #: (`Dispatcher._put`). Nothing waiting there is in a hurry (the shortest wait is a
    #: second), and with dead subscribers every event puts one.
    retry_put_linger_s: float = 0.5


def receive_pause(received: int, asked: int, pause_s: float) -> float:
    """Seconds before a queue loop's next receive, after one that asked for `asked` messages
    and got `received`. Pure.

    A full batch: none, more may be waiting. A short one: `pause_s`, so what comes due
    meanwhile is received ten a call. Why: the retry queue's messages come due spread out
    (ten dead subscribers' held-back deliveries return over half a cooldown once their
    breakers reopen), and a long poll answers as soon as one is there: a receive, a send
    and a delete for every message or two, each a boto3 call whose Python holds the GIL
    the event loop needs for the healthy subscribers' deliveries. Nothing there is in a
    hurry (`jobs.EARLY_S` already makes a delivery up to a second early). The events
    queue never pauses: fresh events go out as they come."""
    return 0.0 if received >= asked else pause_s


@dataclass
class DispatcherStats:
    """Counts by outcome, for metrics and tests."""

    outcomes: Counter[str] = field(default_factory=Counter)

    def count(self, what: str) -> None:
        self.outcomes[what] += 1


class Dispatcher:
    def __init__(
        self,
        config: DispatcherConfig,
        events: PoolQueue,
        retries: PoolQueue,
        directory: Directory,
        failures: FailureStore,
        http: aiohttp.ClientSession,
        *,
        reporter: Reporter | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.events = events
        self.retries = retries
        self.directory = directory
        self.failures = failures
        self.http = http
        self.reporter: Reporter = reporter or LogReporter()
        self.stats = DispatcherStats()
        self._clock = clock
        self._rng = rng or random.Random()
        self._breakers: dict[str, Breaker] = {}
        self._waiting_puts: Coalescer[WaitingDeliveries] = Coalescer(
            self._send_waiting,
            config.retry_put_linger_s,
            lambda code: SendError(f"send refused: {code}"),
        )
        self._slots: dict[str, Slots] = {}
        #: switched off here, by generation, until the directory shows it too
        self._tombstoned: dict[str, int] = {}
        #: held by the retry side's handlers for each step of work: one a turn of the loop
        self._retry_turn = asyncio.Lock()

    # -- the loops --------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Consume both queues until `stop`; then finish what is in hand."""
        await asyncio.gather(
            self._consume(self.events, self._on_event, stop),
            self._consume(self.retries, self._on_waiting, stop, self.config.retry_receive_pause_s),
        )

    async def _consume(
        self,
        queue: PoolQueue,
        handle: Callable[[QueueMessage], Awaitable[None]],
        stop: asyncio.Event,
        pause_s: float = 0.0,
    ) -> None:
        in_hand: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            free = self.config.in_flight - len(in_hand)
            if free <= 0:
                await asyncio.wait(in_hand, return_when=asyncio.FIRST_COMPLETED)
                continue
            asked = min(free, MAX_BATCH)
            try:
                batch = await queue.receive(max_messages=asked, wait_s=self.config.receive_wait_s)
            except Exception as error:  # SQS unavailable: say so, wait, try again
                log.warning("receive failed: %s", type(error).__name__)
                await wait_unless_stopped(stop, 1.0)
                continue
            for message in batch:
                task = asyncio.create_task(self._settle(handle, message))
                in_hand.add(task)
                task.add_done_callback(in_hand.discard)
            await wait_unless_stopped(stop, receive_pause(len(batch), asked, pause_s))
        if in_hand:
            await asyncio.gather(*in_hand, return_exceptions=True)

    async def _settle(
        self, handle: Callable[[QueueMessage], Awaitable[None]], message: QueueMessage
    ) -> None:
        try:
            await handle(message)
        except Exception as error:  # it comes back when its visibility ends
            log.warning("handling a queue message failed: %s", type(error).__name__)

    async def _on_event(self, message: QueueMessage) -> None:
        try:
            event = Event.from_json(message.body)
        except ValidationError as error:
            log.warning("not an event, dropped: %d error(s)", error.error_count())
            self.stats.count("not-an-event")
            await self.events.finish(message)
            return
        now = self._clock()
        # those that may be tried go first: the bookkeeping of the held-back ones (an open
        # breaker) then runs while their requests are out, not before they start
        targets = sorted(
            routes(event, self.directory.subscribers()),
            key=lambda subscriber: not self._breakers.get(subscriber.key, Breaker()).allows(now),
        )
        body = event.to_json()
        later = await asyncio.gather(
            *(
                self._deliver(
                    DeliveryJob(
                        webhook_id=event.id,
                        namespace=subscriber.namespace,
                        subscription=subscriber.name,
                        generation=subscriber.generation,
                        attempt=1,
                        due_at=now,
                        since=now,
                        body=body,
                    )
                )
                for subscriber in targets
            )
        )
        await self._put([job for job in later if job is not None])
        await self.events.finish(message)

    async def _on_waiting(self, message: QueueMessage) -> None:
        """A retry-queue message: its due deliveries attempted, the rest put back.

        The retry side is the background: its handlers take turns (`_retry_turn`), each
        step (reading a message, one event's deliveries) one turn of the loop, so fresh
        events' deliveries go in between. Ten messages received together were ten reads
        of up to fifty events (~1.6 ms each) and then ten events' deliveries a turn: the
        loop stalled 16-25 ms when ten dead subscribers' breakers reopened (bench, 2026-12-07).
        """
        async with self._retry_turn:
            try:
                events = read_waiting(message.body)
            except ValidationError as error:
                log.warning("not waiting deliveries, dropped: %d error(s)", error.error_count())
                self.stats.count("not-waiting-deliveries")
                events = None
        if events is None:
            await self.retries.finish(message)
            return
        # not due yet: a wait longer than SQS holds a message, or a later one beside a due one
        now = self._clock()
        attempts: list[asyncio.Task[DeliveryJob | None]] = []
        not_yet: list[DeliveryJob] = []
        for waiting in events:
            async with self._retry_turn:
                due, later_on = waiting.split(now)
                not_yet += later_on
                attempts += [asyncio.create_task(self._deliver(job)) for job in due]
                # the lock is handed on when this step's deliveries have started
                await asyncio.sleep(0)
        later = await asyncio.gather(*attempts)
        await self._put(not_yet + [job for job in later if job is not None])
        await self.retries.finish(message)

    # -- one delivery ------------------------------------------------------------------

    async def _deliver(self, job: DeliveryJob) -> DeliveryJob | None:
        """Attempt `job` if it may go now. Returns what must wait on the retry queue (the job
        postponed, or its next attempt), which the caller puts there before it lets go of
        the queue message that asked for the delivery."""
        key = job.subscriber_key
        subscriber = self.directory.get(key)
        now = self._clock()
        switched_off = subscriber is not None and self._switched_off(subscriber)
        verdict = fate(subscriber, switched_off, job.first_due, now)
        if verdict is not Fate.ATTEMPT:
            self.stats.count(verdict.value)
            return job.postponed(now + self.config.park_s) if verdict is Fate.HOLD else None
        assert subscriber is not None
        breaker = self._breakers.get(key, Breaker())
        if not breaker.allows(now):
            return self._held_back(job, breaker, now)
        slots = self._slots.setdefault(key, Slots(self.config.concurrency_per_subscriber))
        taken_at = now
        if not await slots.take(taken_at, subscriber.timeout_s):
            self.stats.count("postponed")
            busy = slots.busy(subscriber.timeout_s, now, self._rng.random())
            return job.postponed(busy.postpone_to)
        now = self._clock()
        breaker = self._breakers.get(key, Breaker())
        if not breaker.allows(now):  # it opened, or its probe went out, while this waited
            slots.give_back(taken_at)
            return self._held_back(job, breaker, now)
        self._breakers[key] = probe(breaker)
        try:
            try:
                secrets = await self.directory.secrets(subscriber)
            except (SigningSecretError, DirectoryError) as error:
                log.warning("cannot sign for %s: %s", key, error)
                self.stats.count("postponed")
                self._breakers[key] = breaker
                return job.postponed(now + SECRET_POSTPONE_S)
            body = job.body.encode()
            headers = delivery_headers(secrets, job.webhook_id, int(now), body)
            answer = await attempt(
                self.http,
                subscriber.url,
                body,
                headers,
                timeout_s=subscriber.timeout_s,
                allowed=self.config.allowed,
            )
        finally:
            slots.give_back(taken_at)
        decision = after_attempt(
            answer,
            job.attempt,
            subscriber.schedule_s,
            jitter_ratio=subscriber.jitter_ratio,
            draw=self._rng.random(),
        )
        now = self._clock()
        # only unavailability trips the breaker: a 4xx is an answer from a subscriber that is up
        unavailable = decision.failed and retryable(answer)
        slots.last_succeeded = not unavailable
        self._breakers[key] = after(self._breakers.get(key, Breaker()), not unavailable, now)
        self.stats.count(decision.verdict.value)
        if not decision.failed:
            assert answer.status is not None
            await self.reporter.delivered(subscriber, job, answer.status)
            return None
        return await self._after_failure(subscriber, job, decision, now, answer.status)

    async def _after_failure(
        self,
        subscriber: Subscriber,
        job: DeliveryJob,
        decision: Decision,
        now: float,
        status: int | None,
    ) -> DeliveryJob | None:
        """Count the failure; tombstone, or hand back the next attempt when there is one."""
        try:
            window = await self.failures.record(
                subscriber.namespace,
                subscriber.name,
                subscriber.generation,
                now,
                subscriber.failures_in_24h,
            )
        except FailureStoreError as error:  # not counted; the delivery still follows its rule
            log.warning("recording a failure of %s failed: %s", subscriber.key, error)
            window = ()
        failures_24h = in_window(window, now)
        if decision.verdict is Verdict.TOMBSTONE or over_limit(
            window, now, subscriber.failures_in_24h
        ):
            reason = decision.reason
            if decision.verdict is not Verdict.TOMBSTONE:
                reason = f"{failures_24h} failed attempts in 24 hours, the last: {decision.reason}"
            self._tombstoned[subscriber.key] = subscriber.generation
            self.stats.count("tombstoned")
            await self.reporter.tombstoned(subscriber, reason, failures_24h)
            # held for its resurrection, as the events after it are (`fate.py`)
            return job.retry(now + self.config.park_s) if subscriber.replay_held else None
        await self.reporter.failed(subscriber, job, decision, failures_24h, status)
        if decision.verdict is Verdict.RETRY:
            assert decision.delay_s is not None
            return job.retry(now + decision.delay_s)
        return None

    def breakers(self) -> Mapping[str, Breaker]:
        """The replica's breakers by subscription (``namespace/name``), read only (metrics)."""
        return MappingProxyType(self._breakers)

    def _held_back(self, job: DeliveryJob, breaker: Breaker, now: float) -> DeliveryJob:
        """Postponed by its subscriber's open `breaker`."""
        self.stats.count("postponed")
        return job.postponed(comes_back_at(breaker, now, spread_draw(job.webhook_id)))

    def _switched_off(self, subscriber: Subscriber) -> bool:
        return self._tombstoned.get(subscriber.key) == subscriber.generation

    async def _put(self, jobs: list[DeliveryJob]) -> None:
        """On the retry queue: each event's jobs due at about the same time together
        (`jobs.bundled`), and the events put within `retry_put_linger_s` by any handler in
        one message when they wake at about the same time (`jobs.packed`), visible when
        due (or after SQS's longest delay, 900 s). Returns once all are on the queue;
        raises `SendError` when SQS refused any (the caller's queue message then stays,
        to come back)."""
        if not jobs:
            return
        results = await asyncio.gather(
            *self._waiting_puts.add(bundled(jobs, self._clock())), return_exceptions=True
        )
        refused = [result for result in results if isinstance(result, BaseException)]
        if refused:
            raise SendError(f"{len(refused)} waiting deliveries not put: {refused[0]}")

    def _send_waiting(self, groups: list[WaitingDeliveries]) -> dict[str, Any]:
        """One SendMessageBatch of `groups` packed (in a thread, as `Coalescer` calls it);
        a refused message's groups are answered `Failed` by their index."""
        now = self._clock()
        messages = packed(groups, now)
        batches = [WaitingBatch(events=[groups[n] for n in indices]) for indices in messages]
        answer = self.retries.send_batch(
            [(batch.to_json(), hold_for(batch.wakes_at, now)) for batch in batches]
        )
        failed = []
        for item in answer.get("Failed", []):
            for n in messages[int(item["Id"])]:
                failed.append({"Id": str(n), "Code": item.get("Code", "")})
        return {"Failed": failed}
