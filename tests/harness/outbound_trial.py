"""The outbound fault trial: real `wafleet-runner sender` processes against SQS and DynamoDB on
the moto server and a Twilio stand-in that fails, throttles, drops and stalls at random.

One function, `run_trial`, serves the CI test (a share) and the benchmark (the full run):

- N sender replicas run as subprocesses, configured as the operator renders them
  (`SenderSettings.as_env()`), each with its own log file;
- M messages are published to the pool's queue, a fraction of them twice (the same
  id, two queue messages), never more than `backlog` waiting at once (moto's queue
  operations are linear in the queue's length);
- a random replica is SIGKILLed at random moments and started again at once, with a
  new identity (its pod name gets a generation suffix; the process adds its own),
  until the last few messages (`kills_stop_at_pending`);
- the queue's visibility timeout is short and some sends are held by the stand-in
  for longer than it, so messages come back to other replicas mid-send;
- the stand-in answers a seeded share of sends with a throttle, a retryable, a
  permanent or an unknown failure (a bare 500), or takes the send and drops the
  connection (the sender cannot know it went).

When every message is settled and the queue is empty, it counts by our id:
duplicates (ids the stand-in accepted more than once) and lost (ids neither SENT in
the ledger, nor FAILED there with a reason, nor in the dead-letter queue with a
reason attribute). The counting rules are pure functions (`tally`,
`max_in_window`, `publish_order`) with table tests.

Everything runs from synchronous code: the stand-in has its own thread and event
loop, so publishing and polling never delay its answers or its arrival times.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3

from session_runner.contract.sender_settings import SenderSettings
from session_runner.procmem import pss_mb
from session_runner.sender.ledger import client_config, ensure_table
from session_runner.sender.ledger_decision import LedgerState
from session_runner.sender.message import OutboundMessage
from session_runner.sender.queue import REASON_ATTRIBUTE
from tests.harness.children import dies_with_parent
from tests.harness.devserver import (
    DEV_ACCESS_KEY_ID,
    DEV_REGION,
    DEV_SECRET_ACCESS_KEY,
    MotoServer,
)
from tests.harness.vendor_standins.common import Plan, plan_request
from tests.harness.vendor_standins.twilio import TwilioStandin

BIN = Path(sys.executable).parent
TABLE = "wafleet-outbound-ledger"
TARGET = "trial"
POOL = "trial"
#: How often the trial reads the ledger while messages are still waiting in the queue.
CHECK_EVERY_S = 5.0
#: The line the sender logs for a queue message it receives more than once.
REDELIVERY_EVENT = "message received again"
#: The stand-in's failure answers, drawn at random: (Twilio code or None for a bare
#: status, HTTP status or None for Twilio's own). Retryable, permanent, unknown.
FAILURE_MIX: tuple[tuple[int | None, int | None], ...] = (
    (21702, None),  # Messaging Service unavailable: not sent, retry later
    (21211, None),  # invalid To: FAILED and dead-lettered
    (None, 500),  # a bare 500: maybe sent, the claim stays and a reclaimer asks Twilio
)


# ---------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TrialFaults:
    """What the stand-in does wrong, per send (fractions of authenticated requests)."""

    fail_fraction: float = 0.03
    throttle_fraction: float = 0.004
    drop_fraction: float = 0.004  # taken, then the connection closes unanswered
    slow_fraction: float = 0.004  # answered after `slow_s`: past the visibility timeout
    slow_s: tuple[float, float] = (8.0, 11.0)
    retry_after_s: float = 0.5


@dataclass(frozen=True)
class TrialConfig:
    messages: int = 1_000
    replicas: int = 3
    duplicate_fraction: float = 0.05
    #: Seconds between SIGKILLs (uniform in the range); None: no kills.
    kill_every_s: tuple[float, float] | None = (4.0, 9.0)
    #: Seconds between freezes of a random replica (SIGSTOP, then SIGCONT after `freeze_s`,
    #: longer than the visibility timeout: a stopped VM, a long GC pause); None: none.
    #: Its sends in progress outlive their visibility however it renews it.
    freeze_every_s: tuple[float, float] | None = (10.0, 20.0)
    freeze_s: tuple[float, float] = (11.0, 14.0)
    faults: TrialFaults | None = field(default_factory=TrialFaults)
    rate_limit_per_second: float = 2_000.0
    concurrency: int = 16
    visibility_timeout_s: int = 10
    claim_s: float = 15.0
    max_receive_count: int = 5
    #: Kills stop once everything is published and no more than this many messages are
    #: left: every kill would then hit the same few, which is SQS's picture of a poison
    #: message (one that kills each receiver: after max_receive_count receives, SQS
    #: dead-letters it, without a reason), not of a replica dying at a random moment.
    kills_stop_at_pending: int = 50
    #: At most this many queue messages waiting (visible) before more are published.
    backlog: int = 100
    #: Publish everything before the replicas start (a full backlog from the first second).
    prepublish: bool = False
    seed: int = 0
    limit_s: float = 900.0
    log_level: str = "info"


@dataclass(frozen=True)
class Tally:
    """The verdict by our id."""

    duplicates: int  # ids the vendor accepted more than once
    lost: int  # ids with no trace of an outcome
    sent: int  # SENT in the ledger
    failed: int  # FAILED with a reason in the ledger
    dead_lettered: int  # in the DLQ with a reason (and not SENT or FAILED)
    lost_ids: tuple[str, ...] = ()  # the first few, to look at


@dataclass(frozen=True)
class TrialResult:
    config: TrialConfig
    tally: Tally
    publishes: int  # queue messages published (duplicates included)
    kills: int
    freezes: int
    throttles: int  # stand-in answers, by kind
    failures: int
    drops: int
    slow_sends: int
    accepted: int  # sends the stand-in took (duplicates included)
    redeliveries: int  # receives of a queue message after its first (from the senders' logs)
    reclaims: int  # ledger entries claimed more than once (a claim expired mid-send)
    dead_letters_without_reason: int  # SQS's own redrive: no reason attached
    elapsed_s: float  # replicas started → everything settled
    max_one_second_sends: int  # the most sends the stand-in took in any one-second window
    send_span_s: float  # the stand-in's first accepted send → its last
    replica_pss_mb: float  # the largest PSS one replica had while the trial ran

    @property
    def messages_per_s(self) -> float:
        return self.config.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def duplicates(self) -> int:
        return self.tally.duplicates

    @property
    def lost(self) -> int:
        return self.tally.lost


# ---------------------------------------------------------------------- pure rules


def tally(
    ids: Sequence[str],
    ledger: Mapping[str, tuple[str, str | None]],
    dead_letters: Mapping[str, str | None],
    accepted: Mapping[str, int],
) -> Tally:
    """Count the verdict. `ledger`: id → (state, reason); `dead_letters`: id → reason
    attribute (None: none); `accepted`: id → sends the vendor took."""
    sent = failed = dead = 0
    lost: list[str] = []
    for message_id in ids:
        state, reason = ledger.get(message_id, ("", None))
        if state == LedgerState.SENT.value:
            sent += 1
        elif state == LedgerState.FAILED.value and reason:
            failed += 1
        elif dead_letters.get(message_id):
            dead += 1
        else:
            lost.append(message_id)
    duplicates = sum(1 for n in accepted.values() if n > 1)
    return Tally(duplicates, len(lost), sent, failed, dead, tuple(lost[:20]))


def max_in_window(times: Sequence[float], window_s: float = 1.0) -> int:
    """The most of `times` inside any half-open window [a, a + window_s).

    The busiest window can always be moved to start at one of the times, so
    trying each time as a start finds it.
    """
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, bisect_left(ordered, start + window_s, lo=i) - i)
    return best


def publish_order(count: int, duplicate_fraction: float, rng: random.Random) -> list[str]:
    """The ids in publish order: each once, a `duplicate_fraction` of them a second time,
    within the next 200 publishes (so a copy may arrive while its twin is being sent,
    or long after it went)."""
    ids = [f"trial-{n:06d}" for n in range(count)]
    order = list(ids)
    extra = sorted(rng.sample(range(count), round(count * duplicate_fraction)), reverse=True)
    for position in extra:
        order.insert(min(len(order), position + 1 + rng.randrange(200)), ids[position])
    return order


def recipient(message_id: str) -> str:
    """One recipient per message, so a reclaimer's lookup at Twilio (by recipient) is exact."""
    return f"+1415{int(message_id.rsplit('-', 1)[1]):07d}"


# ---------------------------------------------------------------------- the stand-in


class TrialTwilio(TwilioStandin):
    """Twilio's stand-in with a seeded mix of failures and some slow answers, counted."""

    def __init__(self, faults: TrialFaults | None, *, seed: int) -> None:
        super().__init__(seed=seed)
        self.trial_faults = faults
        self.counts: Counter[str] = Counter()
        self._mix = random.Random(seed + 1)
        if faults is not None:
            self.faults = replace(
                self.faults,
                fail_fraction=faults.fail_fraction,
                throttle_fraction=faults.throttle_fraction,
                drop_fraction=faults.drop_fraction,
                retry_after_s=faults.retry_after_s,
            )

    def plan(self) -> Plan:
        """The base's plan without its count of recent sends (a scan of every send so far,
        which at 50,000 sends slows each answer down): the trial sets no `throttle_above`."""
        draws = (self._rng.random(), self._rng.random(), self._rng.random())
        plan = plan_request(self.faults, draws=draws, accepted_in_window=0)
        self.counts[plan.value] += 1
        if plan == Plan.FAIL:
            code, status = self._mix.choice(FAILURE_MIX)
            self.faults = replace(self.faults, fail_code=code, fail_status=status)
        return plan

    async def delay(self) -> None:
        faults = self.trial_faults
        if faults is None or self._mix.random() >= faults.slow_fraction:
            return
        self.counts["slow"] += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), self._mix.uniform(*faults.slow_s))


@contextlib.contextmanager
def standin_thread(standin: TrialTwilio) -> Iterator[TrialTwilio]:
    """Serve `standin` from its own thread and event loop while the block runs."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="standin", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(standin.__aenter__(), loop).result(30)
        try:
            yield standin
        finally:
            asyncio.run_coroutine_threadsafe(standin.__aexit__(None, None, None), loop).result(30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# ---------------------------------------------------------------------- the pool


class TrialPool:
    """The pool's queue (redrive to its DLQ), the ledger table, and the replicas' processes."""

    def __init__(self, moto: MotoServer, config: TrialConfig, standin: TrialTwilio, folder: Path):
        self.config = config
        self.moto = moto
        self.folder = folder
        self.standin = standin
        self.sqs = boto3.client("sqs", **moto.client_kwargs())
        self.dynamodb = boto3.client("dynamodb", config=client_config(10.0), **moto.client_kwargs())
        suffix = f"{os.getpid()}-{time.monotonic_ns()}"
        self.dlq_url = self.sqs.create_queue(QueueName=f"trial-dlq-{suffix}")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = (
            f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{config.max_receive_count}"}}'
        )
        self.url = self.sqs.create_queue(
            QueueName=f"trial-{suffix}",
            Attributes={
                "VisibilityTimeout": str(config.visibility_timeout_s),
                "RedrivePolicy": redrive,
            },
        )["QueueUrl"]
        self.table = f"{TABLE}-{suffix}"
        ensure_table(self.dynamodb, self.table)
        credentials = folder / "vendor"
        credentials.mkdir(parents=True, exist_ok=True)
        for key, value in standin.credentials().items():
            (credentials / key).write_text(value)
        self.credentials = credentials
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.frozen: set[int] = set()
        self.generations: Counter[int] = Counter()
        self.log_files: list[Path] = []
        self.max_pss_mb = 0.0

    # -- replicas --------------------------------------------------------------------

    def settings(self, pod_name: str) -> SenderSettings:
        config = self.config
        return SenderSettings(
            pool=POOL,
            namespace="trial",
            pod_name=pod_name,
            vendor="twilio",
            target=TARGET,
            sender_number=self.standin.sender,
            queue_url=self.url,
            dead_letter_queue_url=self.dlq_url,
            ledger_table=self.table,
            aws_endpoint_url=self.moto.endpoint_url,
            aws_region=DEV_REGION,
            rate_limit_per_second=config.rate_limit_per_second,
            concurrency=config.concurrency,
            max_receive_count=config.max_receive_count,
            visibility_timeout_seconds=config.visibility_timeout_s,
            claim_seconds=config.claim_s,
            credentials_dir=self.credentials,
            vendor_base_url=self.standin.base_url,
            status_callback_url="http://127.0.0.1:9/twilio/status",
            health_port=0,
            metrics_port=0,
            log_level=config.log_level,
        )

    def start(self, slot: int) -> None:
        self.generations[slot] += 1
        pod = f"sender-{slot}-g{self.generations[slot]}"
        log_path = self.folder / f"{pod}.log"
        self.log_files.append(log_path)
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": DEV_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DEV_SECRET_ACCESS_KEY,
            "AWS_REGION": DEV_REGION,
            "AWS_DEFAULT_REGION": DEV_REGION,
            **self.settings(pod).as_env(),
        }
        with log_path.open("wb") as log:
            self.processes[slot] = subprocess.Popen(
                dies_with_parent([str(BIN / "wafleet-runner"), "sender"]),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self, slot: int) -> None:
        process = self.processes[slot]
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        self.frozen.discard(slot)

    def freeze(self, slot: int) -> None:
        """Stop the replica where it stands, mid-send or not (its sockets stay open)."""
        self.processes[slot].send_signal(signal.SIGSTOP)
        self.frozen.add(slot)

    def thaw(self, slot: int) -> None:
        if slot in self.frozen:
            self.processes[slot].send_signal(signal.SIGCONT)
            self.frozen.discard(slot)

    def stop_all(self) -> None:
        for slot in list(self.frozen):  # a stopped process would not act on SIGTERM
            self.thaw(slot)
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def sample_memory(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                self.max_pss_mb = max(self.max_pss_mb, pss_mb([process.pid]))

    # -- queue and ledger ------------------------------------------------------------

    def publish(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 10):
            entries = [
                {
                    "Id": str(n),
                    "MessageBody": OutboundMessage(
                        id=message_id,
                        target=TARGET,
                        to=recipient(message_id),
                        text=f"trial message {message_id}",
                    ).to_json(),
                }
                for n, message_id in enumerate(ids[start : start + 10])
            ]
            answer = self.sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"publish failed: {answer['Failed'][0].get('Code')}")

    def depth(self) -> tuple[int, int]:
        """(visible, in flight or delayed) messages in the pool's queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        ) + int(attributes.get("ApproximateNumberOfMessagesDelayed", 0))

    def ledger_states(self, ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """id → (state, reason) for those of `ids` with an entry (strongly consistent)."""
        found: dict[str, tuple[str, str | None]] = {}
        for start in range(0, len(ids), 100):
            keys: list[dict[str, Any]] = [{"id": {"S": i}} for i in ids[start : start + 100]]
            while keys:
                answer = self.dynamodb.batch_get_item(
                    RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}}
                )
                for item in answer["Responses"].get(self.table, []):
                    reason = item.get("reason")
                    found[item["id"]["S"]] = (item["state"]["S"], reason["S"] if reason else None)
                keys = answer.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
        return found

    def reclaims(self) -> int:
        """Entries claimed more than once: a claim ran out and another replica took it."""
        count = 0
        kwargs: dict[str, Any] = {"TableName": self.table, "ProjectionExpression": "attempts"}
        while True:
            page = self.dynamodb.scan(**kwargs)
            count += sum(
                1 for item in page["Items"] if int(item.get("attempts", {"N": "0"})["N"]) > 1
            )
            if "LastEvaluatedKey" not in page:
                return count
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def drain_dead_letters(self, into: dict[str, str | None]) -> int:
        """Move what the DLQ holds into `into` (id → reason); returns how many without one."""
        without = 0
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.dlq_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageAttributeNames=[REASON_ATTRIBUTE],
            )
            messages = answer.get("Messages", [])
            if not messages:
                return without
            for message in messages:
                reason = message.get("MessageAttributes", {}).get(REASON_ATTRIBUTE, {})
                text = reason.get("StringValue")
                message_id = OutboundMessage.from_json(message["Body"]).id
                without += text is None
                if text or message_id not in into:
                    into[message_id] = text
            self.sqs.delete_message_batch(
                QueueUrl=self.dlq_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(messages)
                ],
            )

    def redeliveries(self) -> int:
        count = 0
        for path in self.log_files:
            with contextlib.suppress(OSError):
                count += path.read_text(errors="replace").count(REDELIVERY_EVENT)
        return count


# ---------------------------------------------------------------------- the trial


def run_trial(
    config: TrialConfig,
    moto: MotoServer,
    *,
    progress: bool = False,
    inspect: Callable[[TrialPool, TrialTwilio, Tally], None] | None = None,
) -> TrialResult:
    """Run one trial on `moto` (a running server; the trial's queues and table are its own).

    `inspect` is called with the pool (its replicas' logs still on disk), the stand-in
    and the verdict before the trial's folder goes: to look into a failed trial."""
    rng = random.Random(config.seed)
    order = publish_order(config.messages, config.duplicate_fraction, rng)
    ids = sorted(set(order))
    with (
        tempfile.TemporaryDirectory(prefix="outbound-trial-") as tmp,
        standin_thread(TrialTwilio(config.faults, seed=config.seed)) as standin,
    ):
        pool = TrialPool(moto, config, standin, Path(tmp))
        next_publish = 0
        if config.prepublish:
            pool.publish(order)
            next_publish = len(order)
        started = time.monotonic()
        for slot in range(config.replicas):
            pool.start(slot)
        kills = freezes = 0
        next_kill = _next_kill(config, rng, started)
        next_freeze = _next_freeze(config, rng, started)
        frozen: tuple[int, float] | None = None  # (slot, when it thaws)
        pending = set(ids)
        ledger: dict[str, tuple[str, str | None]] = {}
        dead_letters: dict[str, str | None] = {}
        without_reason = 0
        last_progress = last_check = started
        try:
            while True:
                now = time.monotonic()
                if now - started > config.limit_s:
                    break
                visible, hidden = pool.depth()
                if next_publish < len(order):
                    chunk = order[next_publish : next_publish + max(0, config.backlog - visible)]
                    pool.publish(chunk)
                    next_publish += len(chunk)
                    visible += len(chunk)
                all_published = next_publish == len(order)
                killing = not all_published or visible + hidden > config.kills_stop_at_pending
                if next_kill is not None and now >= next_kill and killing:
                    slot = rng.randrange(config.replicas)
                    pool.kill(slot)
                    kills += 1
                    pool.start(slot)
                    next_kill = _next_kill(config, rng, now)
                if frozen is not None and now >= frozen[1]:
                    pool.thaw(frozen[0])
                    frozen = None
                if frozen is None and next_freeze is not None and now >= next_freeze and killing:
                    slot = rng.randrange(config.replicas)
                    pool.freeze(slot)
                    freezes += 1
                    frozen = (slot, now + rng.uniform(*config.freeze_s))
                    next_freeze = _next_freeze(config, rng, now)
                pool.sample_memory()
                drained = all_published and visible + hidden == 0
                # the ledger is read every few seconds only: reading it is work for moto,
                # which the senders share (and the throughput benchmark measures)
                if drained or now - last_check >= CHECK_EVERY_S:
                    last_check = now
                    without_reason += pool.drain_dead_letters(dead_letters)
                    published = set(order[:next_publish])
                    settled = {
                        message_id: entry
                        for message_id, entry in pool.ledger_states(
                            sorted(pending & published)
                        ).items()
                        if entry[0] != LedgerState.SENDING.value
                    }
                    ledger.update(settled)
                    before = len(pending)
                    pending -= settled.keys()
                    pending -= {i for i, reason in dead_letters.items() if reason}
                    if len(pending) < before:
                        last_progress = now
                    if progress:
                        print(
                            f"# trial: {len(ids) - len(pending)}/{len(ids)} settled, "
                            f"{kills} kills, {now - started:.0f} s",
                            file=sys.stderr,
                            flush=True,
                        )
                    if drained and not pending:
                        break
                    if drained and now - last_progress > 3 * config.claim_s + 30:
                        break  # nothing left to send them: what is pending is lost
                time.sleep(0.5)
            elapsed = time.monotonic() - started
        finally:
            pool.stop_all()
        without_reason += pool.drain_dead_letters(dead_letters)
        ledger.update(pool.ledger_states(sorted(pending)))
        sends = list(standin.log.sends)
        accepted = Counter(send.our_id for send in sends if send.our_id is not None)
        counts = standin.counts
        verdict = tally(ids, ledger, dead_letters, accepted)
        if inspect is not None:
            inspect(pool, standin, verdict)
        return TrialResult(
            config=config,
            tally=verdict,
            publishes=len(order),
            kills=kills,
            freezes=freezes,
            throttles=counts[Plan.THROTTLE.value],
            failures=counts[Plan.FAIL.value],
            drops=counts[Plan.ACCEPT_THEN_DROP.value],
            slow_sends=counts["slow"],
            accepted=len(sends),
            redeliveries=pool.redeliveries(),
            reclaims=pool.reclaims(),
            dead_letters_without_reason=without_reason,
            elapsed_s=elapsed,
            max_one_second_sends=max_in_window([send.at for send in sends]),
            send_span_s=max((s.at for s in sends), default=0.0)
            - min((s.at for s in sends), default=0.0),
            replica_pss_mb=round(pool.max_pss_mb, 1),
        )


def _next_freeze(config: TrialConfig, rng: random.Random, now: float) -> float | None:
    if config.freeze_every_s is None:
        return None
    return now + rng.uniform(*config.freeze_every_s)


def _next_kill(config: TrialConfig, rng: random.Random, now: float) -> float | None:
    if config.kill_every_s is None:
        return None
    return now + rng.uniform(*config.kill_every_s)


def main() -> None:
    """`python -m tests.harness.outbound_trial [messages]`: one trial, its result printed."""
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
    with MotoServer() as moto:
        result = run_trial(TrialConfig(messages=messages), moto, progress=True)
    print(result)


if __name__ == "__main__":
    main()
