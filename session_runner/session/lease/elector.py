"""The elector: client-go's leaderelection loop around the pure decisions in `decision.py`.

    elector = LeaseElector(backend, identity, timings)
    task = asyncio.create_task(elector.run(on_started_leading=start, on_stopped_leading=kill))
    ...
    # graceful shutdown: stop the engine while still leading, then
    task.cancel(); await asyncio.gather(task, return_exceptions=True)
    await elector.release()

Loop: acquire (read, decide, conditional write; retried every RetryPeriod
with client-go's 1.2 jitter), then renew every RetryPeriod. Every renewal
attempt is bounded by the time left to the renew deadline, measured from
when our last successful write was *sent*, so no slow answer can carry us
past it. When the deadline passes, or a read shows someone else holds the
lease, `on_stopped_leading` is called at once and the loop goes back to
acquiring.

Callbacks may be plain functions or coroutine functions:

* `on_started_leading(token)` gets the fencing token. If it returns an
  awaitable, it runs as a task (client-go runs it in a goroutine) that is
  cancelled when leadership ends.
* `on_stopped_leading()` is *called* before anything else happens and before
  any await, so a plain function that SIGKILLs the engine cannot be delayed
  by the event loop. An awaitable it returns (follow-up cleanup) is awaited
  afterwards. It is also called when `run()` is cancelled while leading: no
  engine may outlive the renew loop.

The optional `token_floor` (an async callable returning an int) is asked,
right before each claim is written (never while someone else holds a live
lease), for the lowest fencing token storage would still accept; the claim
writes at least it (`decision.next_record_for_acquire`), so the token stays
monotonic when the Lease is deleted and re-created. If it fails, nothing is
claimed this round: a claim with an unproven token could be refused by
storage while its holder keeps the lease. The next retry asks again.

Clock, wall clock, sleep and jitter are injectable so tests run on virtual time.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from session_runner.session.lease.backend import LeaseBackend
from session_runner.session.lease.decision import (
    ElectorState,
    Observation,
    Verdict,
    classify,
    fencing_token,
    next_record_for_acquire,
    next_record_for_release,
    next_record_for_renew,
    observe,
    seconds_until_may_acquire,
)
from session_runner.session.lease.record import (
    JITTER_FACTOR,
    LeaseBackendError,
    LeaseConflict,
    LeaseError,
    LeaseNotFound,
    LeaseRecord,
    LeaseTimings,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
StartedCallback = Callable[[int], Awaitable[None] | None]
StoppedCallback = Callable[[], Awaitable[None] | None]
TokenFloor = Callable[[], Awaitable[int]]


def utc_now() -> datetime:
    return datetime.now(UTC)


class LeaseElector:
    """Competes for one lease as `identity`; see the module docstring for the protocol."""

    def __init__(
        self,
        backend: LeaseBackend,
        identity: str,
        timings: LeaseTimings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        token_floor: TokenFloor | None = None,
    ) -> None:
        if not identity:
            raise ValueError("a lease holder identity must not be empty")
        self.backend = backend
        self.identity = identity
        self.timings = timings or LeaseTimings()
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._jitter = jitter
        #: Asked right before each claim; see the module docstring. Settable after construction.
        self.token_floor = token_floor
        self._leading = False
        self._token: int | None = None
        self._last_renew: float | None = None
        self._observation: Observation | None = None
        self._record: LeaseRecord | None = None  # our last successful write
        self._running = False
        self._leading_task: asyncio.Future[None] | None = None

    # ------------------------------------------------------------ what others read

    @property
    def is_leader(self) -> bool:
        """Leading and still inside the renew deadline (readiness; false once the deadline passes,
        even if the loop is stuck and has not noticed yet)."""
        return self._leading and self.verdict() is Verdict.KEEP_RUNNING

    @property
    def fencing_token(self) -> int | None:
        """leaseTransitions at our acquisition, while leading; None otherwise."""
        return self._token if self._leading else None

    @property
    def last_renew_monotonic(self) -> float | None:
        """Monotonic time our last successful acquire/renew request was sent."""
        return self._last_renew

    @property
    def observed_holder(self) -> str | None:
        """The holder in the last record we read or wrote (for status)."""
        record = self._observation.record if self._observation else None
        return record.holder if record else None

    def state(self) -> ElectorState:
        return ElectorState(
            leading=self._leading,
            last_renew=self._last_renew,
            observation=self._observation,
            token=self._token,
        )

    def verdict(self) -> Verdict:
        return classify(self.identity, self.state(), self._clock(), self.timings)

    def check(self, max_tolerable_expiry: float) -> bool:
        """Liveness, like client-go's HealthzAdaptor: False when we believe we lead but our
        last renewal is older than LeaseDuration + `max_tolerable_expiry`, i.e. the renew
        loop is stuck (a working loop stops leading at RenewDeadline)."""
        if not self._leading or self._last_renew is None:
            return True
        age = self._clock() - self._last_renew
        return age <= self.timings.duration + max_tolerable_expiry

    # ------------------------------------------------------------ the loop

    async def run(
        self, on_started_leading: StartedCallback, on_stopped_leading: StoppedCallback
    ) -> None:
        """Acquire, lead, lose, re-acquire … until cancelled."""
        if self._running:
            raise RuntimeError("this elector is already running")
        self._running = True
        try:
            while True:
                await self._acquire()
                self._start_leading(on_started_leading)
                await self._renew_until_stop()
                await self._stop_leading(on_stopped_leading)
        finally:
            if self._leading:
                await self._stop_leading(on_stopped_leading)
            self._running = False

    async def release(self, within: float | None = None) -> bool:
        """Clear the holder (conditionally: only if we still hold it) so the next runner takes
        over at once. Call after `run()` has ended (cancel it), i.e. with the engine stopped.
        True if released; False if not ours any more or the backend failed (the lease then
        expires by itself)."""
        if self._running:
            raise RuntimeError("cancel run() before releasing the lease")
        try:
            return await self._bounded(self._release_once(), within or self.timings.renew_deadline)
        except TimeoutError:
            log.warning("lease release timed out", extra={"identity": self.identity})
            return False

    # ------------------------------------------------------------ acquiring

    async def _acquire(self) -> None:
        while not await self._try_acquire():
            period = self.timings.retry_period * (1 + JITTER_FACTOR * self._jitter())
            until = seconds_until_may_acquire(
                self.identity, self._observation, self._clock(), self.timings
            )
            if until is not None and 0 < until < period:
                # Wake when the observed record has been unchanged for the full duration
                # (plus a hair, so the check sees it elapsed), not up to a retry later.
                # A claim that failed although allowed (until == 0) waits a full retry:
                # never hammer a struggling API server.
                period = until + 0.001
            await self._sleep(period)

    async def _try_acquire(self) -> bool:
        """One client-go tryAcquireOrRenew while not leading: read, decide, conditional write."""
        bound = self.timings.renew_deadline
        try:
            record = await self._bounded(self.backend.get(), bound)
        except (LeaseError, TimeoutError) as exc:
            log.info("lease read failed: %s", exc)
            return False
        self._observation = observe(self._observation, record, self._clock())
        if self.verdict() is not Verdict.MAY_ACQUIRE:
            return False
        floor = 0
        if self.token_floor is not None:
            try:
                floor = await self._bounded(self.token_floor(), bound)
            except Exception as exc:  # any failure: the token is unproven, so do not claim
                log.warning("fencing token floor unavailable, not claiming this round: %s", exc)
                return False
        claim = next_record_for_acquire(
            self.identity, record, self._wall(), self.timings, floor=floor
        )
        sent = self._clock()
        try:
            if record is None:
                written = await self._bounded(self.backend.create(claim), bound)
            else:
                written = await self._bounded(self.backend.update(claim), bound)
        except (LeaseConflict, LeaseNotFound, LeaseBackendError, TimeoutError) as exc:
            log.info("lease claim failed: %s", exc)
            return False
        self._commit(written, sent)
        self._leading = True
        self._token = fencing_token(written)
        if self.verdict() is not Verdict.KEEP_RUNNING:
            # The claim's answer came too late to lead on: as if it had failed.
            self._leading = False
            self._token = None
            return False
        log.info("lease acquired", extra={"identity": self.identity, "token": self._token})
        return True

    # ------------------------------------------------------------ leading

    def _start_leading(self, on_started_leading: StartedCallback) -> None:
        token = self._token
        assert token is not None
        result = on_started_leading(token)
        if inspect.isawaitable(result):
            self._leading_task = asyncio.ensure_future(result)
            self._leading_task.add_done_callback(_log_failure)

    async def _renew_until_stop(self) -> None:
        """Renew every RetryPeriod; return as soon as classify() says STOP_NOW."""
        retry = self.timings.retry_period
        while True:
            if self.verdict() is Verdict.STOP_NOW:
                return
            await self._sleep(min(retry, self._time_left()))
            while True:
                if self.verdict() is Verdict.STOP_NOW:
                    return
                try:
                    renewed = await self._bounded(self._renew_once(), self._time_left())
                except TimeoutError:
                    renewed = False
                if renewed:
                    break
                if self.verdict() is Verdict.STOP_NOW:
                    return
                await self._sleep(min(retry, self._time_left()))

    def _time_left(self) -> float:
        assert self._last_renew is not None
        return max(0.0, self._last_renew + self.timings.renew_deadline - self._clock())

    async def _renew_once(self) -> bool:
        """Update our cached record (one request in the common case); on a conflict, re-read
        and renew only if the lease is still ours."""
        current = self._record
        if current is not None and current.holder == self.identity:
            claim = next_record_for_renew(self.identity, current, self._wall(), self.timings)
            sent = self._clock()
            try:
                self._commit(await self.backend.update(claim), sent)
                return True
            except LeaseBackendError as exc:
                log.info("lease renewal failed: %s", exc)
                return False
            except (LeaseConflict, LeaseNotFound):
                pass  # someone wrote since (maybe our own write that timed out): re-read
        try:
            record = await self.backend.get()
        except LeaseError as exc:
            log.info("lease read failed: %s", exc)
            return False
        self._observation = observe(self._observation, record, self._clock())
        if record is None or self.verdict() is Verdict.STOP_NOW:
            return False
        claim = next_record_for_renew(self.identity, record, self._wall(), self.timings)
        sent = self._clock()
        try:
            self._commit(await self.backend.update(claim), sent)
        except (LeaseConflict, LeaseNotFound, LeaseBackendError) as exc:
            log.info("lease renewal failed: %s", exc)
            return False
        return True

    async def _stop_leading(self, on_stopped_leading: StoppedCallback) -> None:
        """Stop: flip state, call the callback (its synchronous part runs before any await),
        then cancel the leading task and finish the callback's asynchronous part."""
        self._leading = False
        self._token = None
        result = on_stopped_leading()
        task, self._leading_task = self._leading_task, None
        if task is not None:
            task.cancel()
        log.warning("lease lost or given up: engine stopped", extra={"identity": self.identity})
        if inspect.isawaitable(result):
            await result
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    # ------------------------------------------------------------ releasing

    async def _release_once(self) -> bool:
        current = self._record
        for _ in range(2):
            if current is None or current.holder != self.identity:
                try:
                    current = await self.backend.get()
                except LeaseError as exc:
                    log.info("lease read failed: %s", exc)
                    return False
                self._observation = observe(self._observation, current, self._clock())
                if current is None or current.holder != self.identity:
                    return False
            claim = next_record_for_release(self.identity, current, self._wall())
            try:
                written = await self.backend.update(claim)
            except (LeaseConflict, LeaseNotFound):
                current = None  # changed since we wrote it: re-read, release only if still ours
                continue
            except LeaseBackendError as exc:
                log.info("lease release failed: %s", exc)
                return False
            self._record = written
            self._observation = observe(self._observation, written, self._clock())
            self._leading = False
            self._token = None
            log.info("lease released", extra={"identity": self.identity})
            return True
        return False

    # ------------------------------------------------------------ helpers

    def _commit(self, written: LeaseRecord, sent: float) -> None:
        """Record a successful write of ours; its deadline counts from when it was sent."""
        self._record = written
        self._observation = observe(self._observation, written, self._clock())
        self._last_renew = sent

    async def _bounded(self, awaitable: Awaitable[T], seconds: float) -> T:
        """`awaitable`'s result, or TimeoutError after `seconds` on the injected sleep.

        Like asyncio.wait_for, but timed by the same sleep the loop uses (so a
        test on virtual time bounds requests exactly as real time would), and
        it does not wait for an abandoned request to unwind: when the renew
        deadline fires, nothing may stand between it and `on_stopped_leading`.
        A result that arrives together with the timeout wins; its lateness is
        judged by classify(), which counts from when the write was sent.
        """
        work = asyncio.ensure_future(awaitable)
        timer = asyncio.ensure_future(self._sleep(max(0.0, seconds)))
        try:
            await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            finished = work.done()
            if not finished:
                work.cancel()
                work.add_done_callback(_consume)
        if not finished:
            raise TimeoutError(f"no answer within {seconds:.3f}s")
        return work.result()


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned request's outcome so asyncio does not log it as unhandled."""
    if not future.cancelled():
        future.exception()


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("on_started_leading failed", exc_info=task.exception())
