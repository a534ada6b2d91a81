"""`make bench ONLY=webhooks`: what dead subscribers cost healthy ones, and deliveries/s.

The real dispatcher loop (`dispatcher.worker.Dispatcher`, in this process, with
the AWS clients, thread pool and settings `wafleet-runner dispatcher` uses)
with its subscriptions and signing Secret on a real control plane, the queues
and failure windows on moto servers, local HTTP subscribers in a process of
their own (as subscribers are elsewhere: their arrival times owe nothing to
the dispatcher's process), and the events published from another process (as
account runners publish them), starting once the dispatcher runs.

The events queue and the retry queue are on two moto servers. In SQS two
queues are independent; on one moto server they share one Python process,
and moto's SQS scans a queue's every message on each call, so the retry
queue filling with dead subscribers' held-back deliveries would slow the
events queue's receives (measured: p99 of publish → receive 8 → 340 ms),
which is moto's cost, not SQS's and not the dispatcher's.

- webhook_p99_ratio: the p99 of (publish to the events queue → arrival at a
  healthy subscriber) for 5 healthy subscribers with 10 dead ones beside (they
  never answer: every attempt runs out its 5 s timeout) / the same with no dead
  ones, same events at the same rate; the median p99 of RUNS alternating runs of
  each (goal <= 1.2).
- webhook_deliveries_per_s: deliveries/s to the 5 healthy subscribers from a
  full events queue / the same POSTs (same bodies, same concurrency) from a bare
  httpx loop in the same run, medians of RUNS (goal: ratio >= 0.5).

Sizes: WAFLEET_BENCH_WEBHOOK_EVENTS (900 at 15/s per latency run: a stall delays all
five subscribers' copies of an event, so with 300 the p99 was about the third-worst
event and moved 2x between runs of one kind),
WAFLEET_BENCH_WEBHOOK_THROUGHPUT (600 events), WAFLEET_BENCH_WEBHOOK_RUNS (3).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import multiprocessing
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
from aiohttp import web
from kubernetes import client, config

from bench.looplag import GcPauses, LagProbe
from bench.result import BenchResult
from session_runner.aws_threads import use_aws_threads
from session_runner.contract.dispatcher_settings import DispatcherSettings
from session_runner.dispatcher.attempt import client_session
from session_runner.dispatcher.directory import KubeDirectory
from session_runner.dispatcher.failures import FailureStore
from session_runner.dispatcher.main import aws_clients, aws_threads
from session_runner.dispatcher.signing import delivery_headers
from session_runner.dispatcher.url_safety import parse_networks
from session_runner.dispatcher.worker import Dispatcher, DispatcherConfig
from session_runner.events.event import Event, EventType, Source
from session_runner.gc_freeze import freeze_startup_objects
from session_runner.kube.client import KubeClient
from session_runner.kube.connection import from_kubeconfig
from session_runner.sender.ledger import ensure_table
from session_runner.sender.queue import PoolQueue, QueueMessage
from tests.harness.control_plane import ControlPlane, find_assets, start_control_plane
from tests.harness.devserver import (
    DEV_ACCESS_KEY_ID,
    DEV_REGION,
    DEV_SECRET_ACCESS_KEY,
    MotoServer,
)
from tests.harness.kube import apply_crds, crd_documents

SECRET = "whsec_" + base64.b64encode(b"bench-webhooks-signing-key-32by!").decode()
HEALTHY, DEAD = 5, 10
LATENCY_EVENTS = int(os.environ.get("WAFLEET_BENCH_WEBHOOK_EVENTS", "900"))
RATE_PER_S = 15.0
THROUGHPUT_EVENTS = int(os.environ.get("WAFLEET_BENCH_WEBHOOK_THROUGHPUT", "600"))
RUNS = int(os.environ.get("WAFLEET_BENCH_WEBHOOK_RUNS", "3"))
LOCAL = parse_networks("127.0.0.1/32")
TABLE = "wafleet-outbound-ledger"


def _log(text: str) -> None:
    print(f"# webhooks: {text}", file=sys.stderr, flush=True)


@dataclass
class Subscribers:
    """Local subscribers in a process of their own (as subscribers are elsewhere: their
    arrival times owe nothing to the dispatcher's process): healthy paths answer 204 at
    once and report (event text, arrival time); `dead` paths never answer."""

    base_url: str
    reports: Any  # multiprocessing queue of (path, webhook-id, body, arrival)
    #: (path, webhook-id) → (body, first arrival); a delivery made again is counted, not kept
    arrivals: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    again: int = 0

    def drain(self) -> int:
        """Take in what arrived since the last call; the count of first arrivals."""
        while True:
            try:
                path, webhook_id, body, arrived = self.reports.get_nowait()
            except queue.Empty:
                return len(self.arrivals)
            if (path, webhook_id) in self.arrivals:
                self.again += 1
            else:
                self.arrivals[(path, webhook_id)] = (body, arrived)


def _serve_subscribers(ports: Any, reports: Any, stop: Any) -> None:
    """The subscribers' process."""

    async def serve() -> None:
        closing = asyncio.Event()

        async def handle(request: web.Request) -> web.Response:
            arrived = time.time()
            body = await request.read()
            path = request.match_info["path"]
            if path.startswith("dead"):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closing.wait(), 60)
                return web.Response(status=503)
            reports.put((path, request.headers["webhook-id"], body.decode(), arrived))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/{path}", handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        ports.put(runner.addresses[0][1])
        await asyncio.to_thread(stop.wait)  # a multiprocessing Event: the parent sets it
        closing.set()
        await runner.cleanup()

    asyncio.run(serve())


@contextlib.contextmanager
def subscribers_process() -> Iterator[Subscribers]:
    context = multiprocessing.get_context("spawn")
    ports, reports, stop = context.Queue(), context.Queue(), context.Event()
    process = context.Process(target=_serve_subscribers, args=(ports, reports, stop))
    process.start()
    try:
        yield Subscribers(f"http://127.0.0.1:{ports.get(timeout=30)}", reports)
    finally:
        stop.set()
        process.join(10)
        if process.is_alive():
            process.kill()


@dataclass
class Setup:
    plane: ControlPlane
    kubeconfig: Path
    moto: MotoServer  # the events queue, the failure windows
    retries_moto: MotoServer  # the retry queue (see the module docstring)
    custom: Any
    core: Any


def _namespace(setup: Setup, name: str, subscribers: Subscribers, dead: int) -> None:
    setup.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    setup.core.create_namespaced_secret(
        name,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="hooks"),
            data={"secret": base64.b64encode(SECRET.encode()).decode()},
        ),
    )
    paths = [f"healthy-{n}" for n in range(HEALTHY)] + [f"dead-{n}" for n in range(dead)]
    for path in paths:
        # dead ones stay live all through (not tombstoned after 21 failures): they cost
        # what a dead subscriber costs until then, for the whole run
        setup.custom.create_namespaced_custom_object(
            "wafleet.io",
            "v1alpha1",
            name,
            "webhooksubscriptions",
            {
                "apiVersion": "wafleet.io/v1alpha1",
                "kind": "WebhookSubscription",
                "metadata": {"name": path},
                "spec": {
                    "url": f"{subscribers.base_url}/{path}",
                    "eventTypes": ["message.received"],
                    "signingSecret": {"name": "hooks"},
                    "tombstone": {"failuresIn24h": 100000},
                },
            },
        )


def _event(namespace: str, n: int, text: str) -> Event:
    return Event.create(
        type=EventType.INBOUND,
        source=Source.SESSION,
        vendor_message_id=f"3EB0{n:08d}",
        at=datetime(2026, 12, 6, tzinfo=UTC),
        namespace=namespace,
        account="sales",
        text=text,
    )


class TimedQueue(PoolQueue):
    """The events queue, noting when each message's body was first received: where a slow
    delivery's time went (before the dispatcher had the event, or after)."""

    def __init__(self, sqs: Any, url: str, received: dict[str, float]) -> None:
        super().__init__(sqs, url)
        self.received = received

    async def receive(self, **kwargs: Any) -> list[QueueMessage]:
        batch = await super().receive(**kwargs)
        now = time.time()
        for message in batch:
            self.received.setdefault(message.body, now)
        return batch


async def _dispatch_until(
    setup: Setup,
    namespace: str,
    done: Any,
    queues: tuple[str, str],
    started: Callable[[], None] = lambda: None,
    received: dict[str, float] | None = None,
    stalls: list[tuple[float, float]] | None = None,
) -> None:
    """Run the dispatcher until `done()`; `started` is called once it runs; `received`, when
    given, gets each event queue message's body and when it was first received."""
    settings = DispatcherSettings(
        events_queue=queues[0],
        retry_queue=queues[1],
        aws_endpoint_url=setup.moto.endpoint_url,
        aws_region=DEV_REGION,
        allowed_networks="127.0.0.1/32",
    )
    use_aws_threads(aws_threads(settings.in_flight))  # as `wafleet-runner dispatcher` does
    sqs, dynamodb = aws_clients(settings)
    retries_sqs = boto3.client("sqs", **setup.retries_moto.client_kwargs())
    calls = {"events": count_calls(sqs), "retries": count_calls(retries_sqs)}
    async with (
        KubeClient(from_kubeconfig(setup.kubeconfig)) as kube,
        client_session(LOCAL) as http,
    ):
        directory = KubeDirectory(kube, namespaces=[namespace])
        dispatcher = Dispatcher(
            DispatcherConfig(allowed=LOCAL, in_flight=settings.in_flight),
            TimedQueue(sqs, queues[0], received if received is not None else {}),
            PoolQueue(retries_sqs, queues[1]),
            directory,
            FailureStore(dynamodb, TABLE),
            http,
        )
        await directory.refresh()
        freeze_startup_objects()  # as `wafleet-runner dispatcher` does once started
        stop = asyncio.Event()
        lag = LagProbe()
        lag.start()
        task = asyncio.create_task(dispatcher.run(stop))
        started()
        deadline = time.monotonic() + 600
        with GcPauses() as gc_pauses:
            try:
                while not done():
                    if time.monotonic() > deadline:
                        raise RuntimeError("the deliveries did not all arrive within 10 minutes")
                    await asyncio.sleep(0.1)
            finally:
                stop.set()
                await task
                await lag.stop()
        if stalls is not None:
            stalls += lag.stalls
        _log(f"outcomes: {dict(dispatcher.stats.outcomes)}")
        _log(
            f"the dispatcher's event loop: lag p99 {lag.p99():.1f} ms, "
            f"max {max(lag.samples, default=0.0):.0f} ms; gc: {gc_pauses.summary()}"
        )
        _log(f"SQS calls: { ({queue: c.summary() for queue, c in calls.items()}) }")


@dataclass
class Calls:
    """Calls a boto3 client made, by operation, and the longest of each (ms)."""

    counts: Counter[str] = field(default_factory=Counter)
    longest_ms: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, str]:
        return {
            op: f"{n}x, longest {self.longest_ms.get(op, 0):.0f} ms"
            for op, n in self.counts.items()
        }


def count_calls(aws: Any) -> Calls:
    """What `aws` (a boto3 client) is asked from now on: what the dispatcher asks of each
    queue, and how long the slowest of each took (a put the retry queue is slow to take
    holds its event's queue message, and room for fresh ones)."""
    calls = Calls()
    started = threading.local()

    def before(model: Any, **_: Any) -> None:
        calls.counts[model.name] += 1
        started.at = time.perf_counter()

    def after(model: Any, **_: Any) -> None:
        took = (time.perf_counter() - getattr(started, "at", time.perf_counter())) * 1000
        calls.longest_ms[model.name] = max(calls.longest_ms.get(model.name, 0.0), took)

    aws.meta.events.register("before-call", before)
    aws.meta.events.register("after-call", after)
    return calls


def _queues(setup: Setup, suffix: str) -> tuple[str, str]:
    """(events queue URL, retry queue URL), each on its own moto server."""
    attributes = {"VisibilityTimeout": "60"}
    events = boto3.client("sqs", **setup.moto.client_kwargs())
    retries = boto3.client("sqs", **setup.retries_moto.client_kwargs())
    return (
        events.create_queue(QueueName=f"events-{suffix}", Attributes=attributes)["QueueUrl"],
        retries.create_queue(QueueName=f"retries-{suffix}", Attributes=attributes)["QueueUrl"],
    )


def _publish_events(
    client_kwargs: dict[str, Any], queue_url: str, namespace: str, times: Any
) -> None:
    """The producer's process (account runners, elsewhere): LATENCY_EVENTS events at
    RATE_PER_S; puts ({event text: when its publish began}, a line about its own pauses)
    on `times` when done."""
    sqs = boto3.client("sqs", **client_kwargs)
    published: dict[str, float] = {}
    sends: list[tuple[float, float]] = []  # (ms, s into the run)
    start = time.time()
    with GcPauses() as gc_pauses:
        for n in range(LATENCY_EVENTS):
            time.sleep(max(0.0, start + n / RATE_PER_S - time.time()))
            text = f"{namespace}-{n}"
            published[text] = began = time.time()
            sqs.send_message(QueueUrl=queue_url, MessageBody=_event(namespace, n, text).to_json())
            sends.append(((time.time() - began) * 1000, began - start))
    slowest = " ".join(f"{ms:.0f}@{at:.1f}" for ms, at in sorted(sends, reverse=True)[:5])
    times.put((published, f"slowest sends (ms@s): {slowest}; gc: {gc_pauses.summary()}"))


def latency_run(setup: Setup, dead: int, run: int) -> list[float]:
    """Seconds from publish to arrival, for every healthy delivery. The events are published
    from a process of their own (as account runners do; a thread here measured this
    process's GIL: its send_message took a p99 of 17-19 ms of a 23-27 ms total), once
    the dispatcher is running (its start-up is not a delivery's latency)."""
    namespace = f"latency-{dead}-{run}"
    context = multiprocessing.get_context("spawn")
    times = context.Queue()
    with subscribers_process() as subscribers:
        _namespace(setup, namespace, subscribers, dead)
        queues = _queues(setup, namespace)
        publisher = context.Process(
            target=_publish_events,
            args=(setup.moto.client_kwargs(), queues[0], namespace, times),
        )
        expected = LATENCY_EVENTS * HEALTHY

        def done() -> bool:
            return subscribers.drain() >= expected

        bodies_received: dict[str, float] = {}
        stalls: list[tuple[float, float]] = []
        asyncio.run(
            _dispatch_until(
                setup,
                namespace,
                done,
                queues,
                started=publisher.start,
                received=bodies_received,
                stalls=stalls,
            )
        )
        received = {Event.from_json(b).text or "": at for b, at in bodies_received.items()}
        published, publisher_said = times.get(timeout=60)
        publisher.join(10)
        _log(f"{dead} dead, the publisher's {publisher_said}")
        if subscribers.again:
            _log(f"{subscribers.again} deliveries made again (at least once)")
        start = min(published.values())
        timed = []  # (published, latency)
        split = []  # (latency, publish → received, received → arrived, s into the run)
        for body, arrived in subscribers.arrivals.values():
            text = Event.from_json(body).text or ""
            timed.append((published[text], arrived - published[text]))
            got = received.get(text, arrived)
            split.append(
                (
                    arrived - published[text],
                    got - published[text],
                    arrived - got,
                    published[text] - start,
                )
            )
        _log(f"{dead} dead, p99 by tenth of the run (ms): {by_tenth(timed)}")
        for line in slowest_split(split):
            _log(f"{dead} dead, {line}")
        _log(
            f"{dead} dead, the dispatcher's loop stalls >= {LagProbe.STALL_MS:.0f} ms (ms@s): "
            + " ".join(f"{ms:.0f}@{at - start:.1f}" for at, ms in stalls)
        )
        return [latency for _, latency in timed]


def slowest_split(split: list[tuple[float, float, float, float]]) -> list[str]:
    """Where the slowest 1 % of deliveries spent their time: before the dispatcher received
    the event (the publisher, SQS, the long poll) or after (the dispatcher, HTTP); and each
    of them, with when in the run it was published."""
    slowest = sorted(split, reverse=True)[: max(1, len(split) // 100)]
    before = statistics.median(s[1] for s in slowest) * 1000
    after = statistics.median(s[2] for s in slowest) * 1000
    return [
        f"slowest 1 %: median {before:.0f} ms publish → received, {after:.0f} ms received → "
        f"arrived (all: {statistics.median(s[1] for s in split) * 1000:.0f} / "
        f"{statistics.median(s[2] for s in split) * 1000:.0f})",
        "the slowest 1 % (latency ms @ s into the run / ms to receive): "
        + " ".join(f"{s[0] * 1000:.0f}@{s[3]:.1f}/{s[1] * 1000:.0f}" for s in slowest),
    ]


def by_tenth(timed: list[tuple[float, float]]) -> str:
    """The p99 of each tenth of a run, in publishing order: where in time the tail is."""
    ordered = [latency for _, latency in sorted(timed)]
    size = max(1, len(ordered) // 10)
    tenths = [ordered[start : start + size] for start in range(0, len(ordered), size)]
    return " ".join(f"{p99(tenth) * 1000:.0f}" for tenth in tenths if len(tenth) > 1)


def throughput_run(setup: Setup, run: int) -> tuple[float, float]:
    """(dispatcher deliveries/s, bare httpx POSTs/s) to the 5 healthy subscribers."""
    namespace = f"throughput-{run}"
    with subscribers_process() as subscribers:
        _namespace(setup, namespace, subscribers, 0)
        queues = _queues(setup, namespace)
        sqs = boto3.client("sqs", **setup.moto.client_kwargs())
        bodies = [_event(namespace, n, f"t-{n}").to_json() for n in range(THROUGHPUT_EVENTS)]
        for start in range(0, len(bodies), 10):
            sqs.send_message_batch(
                QueueUrl=queues[0],
                Entries=[
                    {"Id": str(i), "MessageBody": b}
                    for i, b in enumerate(bodies[start : start + 10])
                ],
            )
        expected = THROUGHPUT_EVENTS * HEALTHY
        started = time.time()
        asyncio.run(
            _dispatch_until(setup, namespace, lambda: subscribers.drain() >= expected, queues)
        )
        first = min(a for _, a in subscribers.arrivals.values())
        last = max(a for _, a in subscribers.arrivals.values())
        dispatcher_rate = expected / max(last - first, 1e-9)
        _log(f"dispatcher: {expected} deliveries in {last - started:.1f} s")

        async def bare() -> float:
            urls = [f"{subscribers.base_url}/healthy-{n}" for n in range(HEALTHY)]
            work = [(url, body.encode()) for body in bodies for url in urls]
            limit = asyncio.Semaphore(DispatcherConfig().in_flight)
            async with httpx.AsyncClient() as http:

                async def post(url: str, body: bytes) -> None:
                    async with limit:
                        headers = delivery_headers(
                            [SECRET], "evt_" + "0" * 32, int(time.time()), body
                        )
                        (await http.post(url, content=body, headers=headers)).raise_for_status()

                began = time.time()
                await asyncio.gather(*(post(url, body) for url, body in work))
                return len(work) / (time.time() - began)

        return dispatcher_rate, asyncio.run(bare())


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def run() -> list[BenchResult]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", DEV_ACCESS_KEY_ID)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", DEV_SECRET_ACCESS_KEY)
    assets = find_assets()
    if isinstance(assets, str):
        raise RuntimeError(f"the webhooks bench needs a real control plane: {assets}")
    with (
        tempfile.TemporaryDirectory(prefix="wafleet-bench-webhooks-") as tmp,
        MotoServer() as moto,
        MotoServer() as retries_moto,
    ):
        plane = start_control_plane(assets, Path(tmp) / "control-plane")
        try:
            apply_crds(plane, crd_documents())
            kubeconfig = plane.write_kubeconfig(Path(tmp) / "kubeconfig")
            api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
            setup = Setup(
                plane,
                kubeconfig,
                moto,
                retries_moto,
                client.CustomObjectsApi(api),
                client.CoreV1Api(api),
            )
            ensure_table(boto3.client("dynamodb", **moto.client_kwargs()), TABLE)
            alone_p99, beside_p99, rates, bare_rates = [], [], [], []
            for run in range(RUNS):  # alternating, so drift in the machine hits both alike
                alone = latency_run(setup, 0, run)
                beside = latency_run(setup, DEAD, run)
                alone_p99.append(p99(alone))
                beside_p99.append(p99(beside))
                _log(
                    f"run {run + 1}/{RUNS}: p99 {p99(alone) * 1000:.0f} ms alone, "
                    f"{p99(beside) * 1000:.0f} ms beside {DEAD} dead; medians "
                    f"{statistics.median(alone) * 1000:.0f} / "
                    f"{statistics.median(beside) * 1000:.0f} ms"
                )
                dispatcher_rate, bare_rate = throughput_run(setup, run)
                rates.append(dispatcher_rate)
                bare_rates.append(bare_rate)
                _log(f"deliveries/s: dispatcher {dispatcher_rate:.0f}, bare httpx {bare_rate:.0f}")
            api.close()
        finally:
            plane.stop()
    return [
        BenchResult(
            "webhooks",
            "webhook_p99_ratio",
            round(statistics.median(beside_p99) * 1000, 1),
            "ms",
            round(statistics.median(alone_p99) * 1000, 1),
            "<= 1.2",
        ),
        BenchResult(
            "webhooks",
            "webhook_deliveries_per_s",
            round(statistics.median(rates), 1),
            "deliveries/s",
            round(statistics.median(bare_rates), 1),
            "ratio >= 0.5",
        ),
    ]
