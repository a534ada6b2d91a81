"""The account runner's consumer of its session pool's queue: the I/O around `decision`.

The runner calls `want()` after each poll of its account (with the wiring the
operator annotated, its fencing token and whether the engine is ready), and
`halt()` the moment it loses the lease, is fenced or stops the engine. What
runs is the sender loop every pool uses (`sender.worker.Sender`), with the
fencing token in every ledger write and `SessionAdapter` as the vendor.

AWS is imported and connected only when a wiring first arrives: most
accounts send through no session pool, and boto3 is a large part of a
runner's memory.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any, Final, Protocol

from session_runner.contract.outbound import limiter_key
from session_runner.sender.worker import Sender, SenderConfig
from session_runner.session.engines.base import Engine
from session_runner.session.engines.events import EngineEvent, MessageAck

from .adapter import SessionAdapter
from .decision import Consuming, OutboundStep, outbound_step
from .events import EventForwarder, carries_event
from .media_fetch import MediaFetcher

log = logging.getLogger(__name__)

#: A consumer's long poll: how long a stop may wait for the receive in progress. Shorter
#: than a sender replica's, so a runner that steps down lets go of the queue quickly.
RECEIVE_WAIT_S: Final = 5
#: How long `drain()` waits for in-flight sends to settle before it lets them be.
STOP_WAIT_S: Final = 30.0


class SenderFactory(Protocol):
    def __call__(
        self, consuming: Consuming, namespace: str, identity: str, adapter: SessionAdapter
    ) -> Sender: ...


def build_sender(
    consuming: Consuming, namespace: str, identity: str, adapter: SessionAdapter
) -> Sender:
    """A sender on the wiring's queue, ledger and pool-wide limiter, under the lease's token."""
    from session_runner.sender.ledger import Ledger
    from session_runner.sender.main import aws_clients
    from session_runner.sender.queue import PoolQueue
    from session_runner.sender.ratelimit import PoolRateLimiter

    wiring = consuming.wiring
    sqs, dynamodb = _clients(wiring.aws_region, wiring.aws_endpoint_url, aws_clients)
    return Sender(
        SenderConfig(
            identity=identity,
            concurrency=wiring.concurrency,
            claim_s=wiring.claim_seconds,
            visibility_timeout_s=wiring.visibility_timeout_seconds,
            max_receive_count=wiring.max_receive_count,
            token=consuming.token,
            receive_wait_s=RECEIVE_WAIT_S,
        ),
        PoolQueue(sqs, wiring.queue_url, wiring.dead_letter_queue_url),
        Ledger(dynamodb, wiring.ledger_table),
        PoolRateLimiter(
            dynamodb,
            wiring.ledger_table,
            limiter_key(namespace, wiring.pool),
            wiring.rate_limit_per_second,
        ),
        adapter,
    )


_CLIENTS: dict[tuple[str, str | None], tuple[Any, Any]] = {}


def _clients(
    region: str, endpoint_url: str | None, make: Callable[[str, str | None], tuple[Any, Any]]
) -> tuple[Any, Any]:
    """One pair of clients (and connection pools) per endpoint for the process's life."""
    key = (region, endpoint_url)
    if key not in _CLIENTS:
        _CLIENTS[key] = make(region, endpoint_url)
    return _CLIENTS[key]


class SessionOutbound:
    """At most one sender loop on the account's session pool queue, as `decision` wants it."""

    def __init__(
        self,
        namespace: str,
        pod_name: str,
        engine: Callable[[], Engine | None],
        *,
        account: str = "",
        phone: str | None = None,
        media: MediaFetcher | None = None,
        make_sender: SenderFactory = build_sender,
    ) -> None:
        self._namespace = namespace
        self._pod_name = pod_name
        self._account = account or pod_name
        self._phone = phone
        self._events: EventForwarder | None = None
        self._adapter = SessionAdapter(engine, media)
        self._make_sender = make_sender
        self._running: Consuming | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()  # halted, still settling
        self.sender: Sender | None = None  # the current loop's, for metrics and tests

    @property
    def consuming(self) -> Consuming | None:
        return self._running

    @property
    def active(self) -> bool:
        """A loop still runs: consuming, or halted and settling its last receive."""
        running = self._task is not None and not self._task.done()
        return running or any(not task.done() for task in self._stopping)

    def on_engine_event(self, event: EngineEvent) -> None:
        """Publish a message event (ack, inbound) while a wiring with an events topic holds."""
        if self._running is None or not carries_event(event):
            return
        wiring = self._running.wiring
        if wiring.events_topic_arn is None:
            return
        if self._events is None or self._events.wiring != wiring:
            self._events = EventForwarder(
                wiring, namespace=self._namespace, account=self._account, phone=self._phone
            )
        our_id = self._adapter.our_id(event.message_id) if isinstance(event, MessageAck) else None
        self._events.submit(event, our_id)

    def want(self, wanted: Consuming | None) -> None:
        """Converge on `wanted` (None: consume nothing). Never waits: the runner's poll of
        its account (the fence among it) must go on while an old loop settles."""
        if self._task is not None and self._task.done():
            self._running = None  # it ended by itself (an error): start again if still wanted
            self._task = None
        step = outbound_step(self._running, wanted)
        if step in (OutboundStep.STOP, OutboundStep.RESTART):
            self.halt()
        if step in (OutboundStep.START, OutboundStep.RESTART):
            assert wanted is not None
            self._start(wanted)

    def halt(self) -> None:
        """Stop receiving now (synchronous: the lease may be gone). Sends in flight meet a
        killed engine, which answers that nothing was sent, or that it may have been (the
        claim is then kept); the ledger refuses the old token once the next leader wrote."""
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            self._stopping.add(self._task)
            self._task.add_done_callback(self._stopping.discard)
        self._running, self._task, self._stop = None, None, None

    async def drain(self, timeout_s: float = STOP_WAIT_S) -> None:
        """Halt, then wait (bounded) for the loops to settle what they hold."""
        self.halt()
        if self._events is not None:
            await self._events.drain()
        tasks = set(self._stopping)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=timeout_s)
        if late:
            log.warning("session outbound: sends still in flight after %.0f s", timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    def _start(self, wanted: Consuming) -> None:
        # The claimer identity names the token: a runner that leads again later is
        # another claimer, as a restarted sender pod is.
        identity = f"{self._pod_name}-t{wanted.token}-{secrets.token_hex(3)}"
        self.sender = self._make_sender(wanted, self._namespace, identity, self._adapter)
        stop = self._stop = asyncio.Event()
        self._running = wanted
        log.info("consuming session pool %s (fencing token %s)", wanted.wiring.pool, wanted.token)
        self._task = asyncio.create_task(self._run(self.sender, stop), name="session-outbound")

    async def _run(self, sender: Sender, stop: asyncio.Event) -> None:
        try:
            await sender.run(stop)
        except Exception as error:  # logged; the next poll starts it again
            log.warning("session outbound loop failed: %s", type(error).__name__)
        finally:
            log.info("stopped consuming (%s)", sender.stats)
