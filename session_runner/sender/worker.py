"""One sender replica's loop: receive a batch, claim, wait for slots, send, settle.

The decisions live in pure modules: whether a message may be sent
(`ledger_decision`), when (`rate_decision`), and what an answer means
(`steps`). This module only orders the I/O around them:

    receive ≤ 10 (only while the pool is not paused and slots are free)
      → claim each in the ledger (DONE: delete; BUSY: come back when the claim ends;
        RECLAIM: ask the vendor first)
      → reserve one send time per message still to send, for the whole batch at once
      → at its time, each message is sent (the queue message kept invisible meanwhile)
      → `after_send` → ledger, queue message, pool pause

A message whose body is not an `OutboundMessage` has no id to hold in the
ledger: it goes to the dead-letter queue with the parse error as its reason.
On the last receive SQS allows, a fresh copy goes on the queue first and the
message is deleted where it would be handed back (`steps.renew_when`), so SQS
never dead-letters, without a reason, a message whose claim is still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Final

from pydantic import ValidationError

from session_runner.bulk.tally import BulkTally
from session_runner.bulk.tally import Outcome as BulkOutcome
from session_runner.sender.ledger import Ledger
from session_runner.sender.ledger_decision import (
    ClaimAction,
    ClaimDecision,
    ReclaimStep,
    VendorLookup,
    after_vendor_lookup,
    may_start_send,
)
from session_runner.sender.message import OutboundMessage
from session_runner.sender.queue import PoolQueue, QueueMessage
from session_runner.sender.rate_decision import too_late_for_slot
from session_runner.sender.ratelimit import PoolRateLimiter
from session_runner.sender.steps import (
    LedgerStep,
    QueueStep,
    Renew,
    after_send,
    hand_back_step,
    keep_visible_every_s,
    renew_delay_s,
    renew_when,
)
from session_runner.sender.vendors.base import Lookup, Outcome, SendResult, VendorAdapter
from session_runner.signals import wait_unless_stopped

log = logging.getLogger(__name__)

#: The adapters' own bound on one vendor call (aiohttp total timeout).
SEND_TIMEOUT_S: Final = 10.0
#: How many send times one message may give up for waking too late (`_wait_for_slot`).
MAX_LATE_SLOTS: Final = 3
#: Clock skew between replicas a claim must survive (see `may_start_send`).
SKEW_MARGIN_S: Final = 2.0
#: How long a receive waits for a first message (SQS long polling).
RECEIVE_WAIT_S: Final = 20
#: How stale the pool's pause may be when deciding whether to receive: a pause set by
#: another replica is noticed within this (sends never miss it: see `PoolRateLimiter`).
PAUSE_CHECK_S: Final = 1.0


@dataclass
class SenderStats:
    """What this replica did, for its metrics and for tests."""

    received: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    duplicates_skipped: int = 0
    unknown: int = 0
    late_slots: int = 0  # send times given up because the sender woke too late for them
    last_receive_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class SenderConfig:
    identity: str  # pod name + a per-process suffix: a restarted pod is another claimer
    concurrency: int
    claim_s: float
    visibility_timeout_s: int
    max_receive_count: int
    sender_number: str | None = None
    token: int | None = None  # a session pool's fencing token
    send_timeout_s: float = SEND_TIMEOUT_S  # the adapter's bound on one call
    #: SQS long polling: a stop waits for the receive in progress (no message is left
    #: invisible by an abandoned receive), so this bounds how long a stop takes.
    receive_wait_s: int = RECEIVE_WAIT_S
    skew_margin_s: float = SKEW_MARGIN_S


class Sender:
    """One replica of a pool's sender."""

    def __init__(
        self,
        config: SenderConfig,
        queue: PoolQueue,
        ledger: Ledger,
        limiter: PoolRateLimiter,
        adapter: VendorAdapter,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.queue = queue
        self.ledger = ledger
        # a bulk row's sent/failed, counted for its job's progress beside the ledger
        self.tally = BulkTally(ledger.client, ledger.table)
        self.limiter = limiter
        self.adapter = adapter
        self.stats = SenderStats()
        self._clock = clock
        self._sleep = sleep
        self._busy = 0  # messages received and not yet settled (at most `concurrency`)
        self._settled = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        #: receipt handles of messages copied on their last receive (see `steps.renew_when`)
        self._copied: set[str] = set()

    @property
    def holding(self) -> int:
        """Messages received and not yet settled: 0 after `run` returns, whatever happened."""
        return self._busy

    # -- the loop --------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Receive and send until `stop` is set; then finish what is in flight."""
        while not stop.is_set():
            if await self._paused(stop):
                continue
            free = self.config.concurrency - self._busy
            if free <= 0:
                self._settled.clear()
                await _wait_event(stop, self._settled)
                continue
            try:
                batch = await self.queue.receive(
                    max_messages=free, wait_s=self.config.receive_wait_s
                )
            except Exception as error:  # SQS unavailable: say so, wait, try again
                log.warning("receive failed: %s", type(error).__name__)
                await wait_unless_stopped(stop, 1.0)
                continue
            self.stats.last_receive_at = time.monotonic()
            self.stats.received += len(batch)
            self._busy += len(batch)
            if batch:
                task = asyncio.create_task(self._handle_batch(batch))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _settle(self, count: int = 1) -> None:
        self._busy -= count
        self._settled.set()

    async def _paused(self, stop: asyncio.Event) -> bool:
        """Wait out a pool-wide pause (a vendor's throttle) instead of receiving."""
        try:
            state = await self.limiter.recent_state(PAUSE_CHECK_S)
        except Exception as error:
            log.warning("rate limiter unavailable: %s", type(error).__name__)
            await wait_unless_stopped(stop, 1.0)
            return True
        remaining = state.throttled_until - self._clock()
        if remaining <= 0:
            return False
        await wait_unless_stopped(stop, min(remaining, 5.0))
        return True

    # -- one batch -------------------------------------------------------------------

    async def _handle_batch(self, batch: list[QueueMessage]) -> None:
        """Copy what is on its last receive, then the batch's steps; forget the copies after."""
        try:
            await self._renew(
                [
                    m
                    for m in batch
                    if renew_when(m.receive_count, self.config.max_receive_count) is Renew.FIRST
                ]
            )
            await self._claim_and_send(batch)
        finally:
            self._copied -= {m.receipt_handle for m in batch}

    async def _claim_and_send(self, batch: list[QueueMessage]) -> None:
        """Claim the batch, reserve its send times at once, send each at its time."""
        to_send: list[tuple[QueueMessage, OutboundMessage, ClaimDecision]] = []
        claimed = await asyncio.gather(*(self._claim(m) for m in batch), return_exceptions=True)
        for queue_message, outcome in zip(batch, claimed, strict=True):
            if isinstance(outcome, BaseException):  # it comes back when its visibility ends
                log.warning("claim failed: %s: %s", type(outcome).__name__, outcome)
            elif outcome is not None:
                to_send.append((queue_message, *outcome))
        self._settle(len(batch) - len(to_send))
        sends: list[asyncio.Task[None]] = []
        pending = to_send
        try:
            while pending:  # the limiter hands out at most its horizon's worth at a time
                times = await self.limiter.acquire(len(pending))
                for at, item in zip(times, pending, strict=False):
                    sends.append(asyncio.create_task(self._send_at(at, *item)))
                pending = pending[len(times) :]
        except Exception as error:  # the unscheduled come back when their visibility ends
            log.warning("sends could not be scheduled: %s", type(error).__name__)
            self._settle(len(pending))
        await asyncio.gather(*sends)

    async def _claim(
        self, queue_message: QueueMessage
    ) -> tuple[OutboundMessage, ClaimDecision] | None:
        """The message and its claim when it is ours to send now; None when settled here."""
        try:
            message = OutboundMessage.from_json(queue_message.body)
        except ValidationError as error:
            reason = f"not an outbound message: {error.error_count()} error(s), first: "
            reason += str(error.errors()[0].get("msg", ""))[:200]
            await self.queue.dead_letter(queue_message, reason)
            self.stats.failed += 1
            return None
        decision = await self.ledger.claim(
            message.id, self.config.identity, self.config.claim_s, token=self.config.token
        )
        action = decision.action
        renew = renew_when(queue_message.receive_count, self.config.max_receive_count)
        if renew is Renew.AFTER_CLAIM and action is not ClaimAction.DONE:
            await self._renew([queue_message])
        if queue_message.receive_count > 1:  # rare in steady state: worth a line when it is not
            log.info(
                "message received again",
                extra={
                    "message_id": message.id,
                    "receive_count": queue_message.receive_count,
                    "claim": action.value,
                },
            )
        if action is ClaimAction.DONE:
            self.stats.duplicates_skipped += 1
            await self.queue.finish(queue_message)
            return None
        if action is ClaimAction.BUSY:
            await self._hand_back(queue_message, decision.retry_after_s + 1)
            return None
        if action is ClaimAction.FENCED:
            await self._hand_back(queue_message, 0)
            return None
        if action is ClaimAction.RECLAIM:
            decision_or_none = await self._after_reclaim(queue_message, message, decision)
            return None if decision_or_none is None else (message, decision_or_none)
        return message, decision

    async def _after_reclaim(
        self, queue_message: QueueMessage, message: OutboundMessage, decision: ClaimDecision
    ) -> ClaimDecision | None:
        """A previous claimer died mid-send: send only if the vendor says it has no such message."""
        found = await self.adapter.lookup(message, sender=self.config.sender_number)
        lookup = {
            Lookup.FOUND: VendorLookup.FOUND,
            Lookup.NOT_FOUND: VendorLookup.NOT_FOUND,
        }.get(found.lookup, VendorLookup.UNKNOWN)
        step = after_vendor_lookup(decision, lookup)
        me, token = self.config.identity, self.config.token
        if step.step is ReclaimStep.SEND:
            return decision
        if step.step is ReclaimStep.RECORD_SENT and found.vendor_message_id:
            await self.ledger.record_sent(message.id, me, found.vendor_message_id, token=token)
            await self.tally.record_quietly(message.id, (BulkOutcome.SENT,))
            self.stats.duplicates_skipped += 1
            await self.queue.finish(queue_message)
            return None
        reason = step.reason or "outcome unknown"
        await self.ledger.record_failed(message.id, me, reason, token=token)
        await self.tally.record_quietly(message.id, (BulkOutcome.FAILED,))
        self.stats.failed += 1
        await self.queue.dead_letter(queue_message, reason)
        return None

    # -- one send --------------------------------------------------------------------

    async def _send_at(
        self,
        at: float,
        queue_message: QueueMessage,
        message: OutboundMessage,
        decision: ClaimDecision,
    ) -> None:
        try:
            await self._send_and_settle(at, queue_message, message, decision)
        except Exception as error:  # the queue message comes back when its visibility ends
            log.warning("settling message %s failed: %s", message.id, type(error).__name__)
        finally:
            self._settle()

    async def _wait_for_slot(self, at: float) -> None:
        """Sleep until the send time `at`; reached too late for it, reserve another (a few times).

        Every slot is checked, also one that needed no sleep: the slots reserved after it
        follow it back to back, so a send that leaves late (a task the loop started late,
        a sleeper woken late) crowds their one-second window. Measured: a replica's first
        send, whose slot was free, left 45 ms late while the other replicas were starting,
        and that window held 11 sends at a limit of 10/s. At most `MAX_LATE_SLOTS` times:
        on a machine that is late for every slot, new slots would be missed the same way,
        and lateness that persists shifts every send alike (it crowds no window).
        """
        for _ in range(MAX_LATE_SLOTS):
            delay = at - self._clock()
            if delay > 0:
                await self._sleep(delay)
            if not too_late_for_slot(at, self._clock()):
                return
            self.stats.late_slots += 1
            [at, *_] = await self.limiter.acquire(1)
        delay = at - self._clock()
        if delay > 0:
            await self._sleep(delay)

    async def _send_and_settle(
        self,
        at: float,
        queue_message: QueueMessage,
        message: OutboundMessage,
        decision: ClaimDecision,
    ) -> None:
        await self._wait_for_slot(at)
        entry = decision.entry
        now = self._clock()
        if not may_start_send(
            entry,
            now,
            send_timeout_s=self.config.send_timeout_s,
            skew_margin_s=self.config.skew_margin_s,
        ):
            if not await self.ledger.extend(message.id, self.config.identity, self.config.claim_s):
                # someone reclaimed it: theirs now (when it was copied, the copy's)
                if queue_message.receipt_handle in self._copied:
                    await self.queue.finish(queue_message)
                return
            entry = replace(entry, claim_expires_at=now + self.config.claim_s)
            await self.queue.keep(queue_message, self.config.visibility_timeout_s)
        async with self._kept_visible(queue_message):
            result = await self._send(message)
        claim_remaining = entry.claim_expires_at - self._clock()
        steps = after_send(
            result,
            receive_count=queue_message.receive_count,
            max_receive_count=self.config.max_receive_count,
            claim_remaining_s=claim_remaining,
        )
        me, token = self.config.identity, self.config.token
        if steps.pause_pool_s is not None:
            with contextlib.suppress(Exception):  # best effort: the next 429 says it again
                await self.limiter.throttle(steps.pause_pool_s, steps.reason or "throttled")
        if steps.ledger is LedgerStep.RECORD_SENT:
            assert result.vendor_message_id is not None
            await self.ledger.record_sent(message.id, me, result.vendor_message_id, token=token)
            await self.tally.record_quietly(message.id, (BulkOutcome.SENT,))
            self.stats.sent += 1
        elif steps.ledger is LedgerStep.RECORD_FAILED:
            await self.ledger.record_failed(message.id, me, steps.reason or "failed", token=token)
            await self.tally.record_quietly(message.id, (BulkOutcome.FAILED,))
            self.stats.failed += 1
        elif steps.ledger is LedgerStep.RELEASE:
            await self.ledger.release(message.id, me, token=token)
            self.stats.retried += 1
        else:
            self.stats.unknown += 1
        if steps.queue is QueueStep.DELETE:
            await self.queue.finish(queue_message)
        elif steps.queue is QueueStep.DEAD_LETTER:
            await self.queue.dead_letter(queue_message, steps.reason or "failed")
        else:
            await self._hand_back(queue_message, steps.delay_s)

    @contextlib.asynccontextmanager
    async def _kept_visible(self, queue_message: QueueMessage) -> AsyncIterator[None]:
        """While the block runs (a send), the queue message stays invisible: renewed every
        third of the visibility timeout. A renewal that fails is logged and tried again at
        the next beat; if the message shows anyway (SQS unreachable, this process frozen),
        the claim keeps another replica from sending it (`ledger_decision`)."""

        async def beat() -> None:
            every = keep_visible_every_s(self.config.visibility_timeout_s)
            while True:
                await self._sleep(every)
                try:
                    await self.queue.keep(queue_message, self.config.visibility_timeout_s)
                except Exception as error:
                    log.warning("keeping a message invisible failed: %s", type(error).__name__)

        heart = asyncio.create_task(beat())
        try:
            yield
        finally:
            heart.cancel()
            # gather, not suppress(CancelledError): a cancellation of this task itself
            # while it waits here must go on propagating.
            await asyncio.gather(heart, return_exceptions=True)

    async def _hand_back(self, queue_message: QueueMessage, delay_s: float) -> None:
        """Not settled here: visible again after `delay_s`, or deleted when its copy carries it."""
        step = hand_back_step(copied=queue_message.receipt_handle in self._copied)
        if step is QueueStep.DELETE:
            await self.queue.finish(queue_message)
        else:
            await self.queue.release(queue_message, _seconds(delay_s))

    async def _renew(self, messages: list[QueueMessage]) -> None:
        """Copy messages on their last receive (see `steps`); a failure is logged and those
        messages go back as any other when handed back."""
        if not messages:
            return
        try:
            copied = await self.queue.renew(messages, renew_delay_s(self.config.claim_s))
        except Exception as error:
            log.warning("copying messages on their last receive failed: %s", type(error).__name__)
            return
        self._copied |= copied
        if len(copied) < len(messages):
            log.warning(
                "%d message(s) on their last receive not copied", len(messages) - len(copied)
            )

    async def _send(self, message: OutboundMessage) -> SendResult:
        """The vendor call; a cancelled or crashed call may have been sent: UNKNOWN."""
        try:
            return await self.adapter.send(message, sender=self.config.sender_number)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            return SendResult(Outcome.UNKNOWN, detail=f"adapter error: {type(error).__name__}")


def _seconds(delay: float) -> int:
    """SQS visibility timeouts are whole seconds, at most 12 hours."""
    return max(0, min(math.ceil(delay), 43200))


async def _wait_event(stop: asyncio.Event, event: asyncio.Event) -> None:
    """Until `event` or `stop` is set."""
    waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(event.wait())}
    _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
