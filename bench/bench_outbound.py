"""`make bench ONLY=outbound`: the senders' rate, throughput, memory and exactly-once under faults.

Real `wafleet-runner sender` processes against SQS and DynamoDB on the moto
server and Twilio's stand-in, through the fault trial of the test harness
(`tests/harness/outbound_trial.py`). Metrics (issue 15, point 8):

- sender_rate_ratio: the most sends the stand-in received in any one-second
  window / the pool's rateLimitPerSecond, 3 replicas under backlog (goal
  0.95-1.0, never above 1.0). Baseline: the limit.
- sender_throughput_vs_moto: messages/s through queue + ledger + stand-in (3
  replicas, no faults, a rate limit far above what moto can carry) / the rate
  moto gives a bare loop (receive a batch of 10; per message a conditional
  PutItem and a DeleteMessage) in the same run, with the same backlog kept in
  the queue by the same publisher. Medians of alternating runs (goal >= 0.7).
- outbound_duplicates / outbound_lost: over WAFLEET_BENCH_OUTBOUND_MESSAGES
  messages (default 50,000) with SIGKILLs, visibility timeouts running out
  mid-send, duplicated publishes and a stand-in failing and throttling at
  random (goal 0 each).
- sender_pss_mb: the largest PSS (/proc/PID/smaps_rollup) of one replica during
  the throughput runs; baseline: a bare Python interpreter's (goal <= 80).

moto's SQS costs grow with the queue's length (every receive and publish
scans it), so every run keeps at most BACKLOG messages waiting; the
baseline keeps the same. Sizes shrink with WAFLEET_BENCH_OUTBOUND_MESSAGES
(the fault run) and WAFLEET_BENCH_OUTBOUND_THROUGHPUT (each throughput run).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import boto3

from bench.memory import bare_python_pss
from bench.result import BenchResult, median
from session_runner.sender.ledger import client_config, ensure_table
from tests.harness.devserver import MotoServer
from tests.harness.outbound_trial import TrialConfig, TrialResult, run_trial

FAULT_MESSAGES = int(os.environ.get("WAFLEET_BENCH_OUTBOUND_MESSAGES", "50000"))
THROUGHPUT_MESSAGES = int(os.environ.get("WAFLEET_BENCH_OUTBOUND_THROUGHPUT", "1000"))
THROUGHPUT_RUNS = int(os.environ.get("WAFLEET_BENCH_OUTBOUND_RUNS", "2"))
#: Sends per second the rate run allows: well below what moto carries here, so the
#: limiter, not moto, is what binds.
RATE = float(os.environ.get("WAFLEET_BENCH_OUTBOUND_RATE", "10"))
RATE_SECONDS = 40
REPLICAS = 3
BACKLOG = 100
#: The bare loop's parallelism: as many calls in flight as three replicas' AWS threads.
BARE_WORKERS = 6
PUBLISH_EVERY_S = 0.5


def _log(text: str) -> None:
    print(f"# outbound: {text}", file=sys.stderr, flush=True)


def bare_loop_rate(moto: MotoServer, messages: int) -> float:
    """Messages/s of receive-10 + (conditional PutItem + DeleteMessage) per message, with
    `BARE_WORKERS` threads and the trial's publisher (≤ BACKLOG visible, topped up every
    PUBLISH_EVERY_S)."""
    sqs = boto3.client("sqs", **moto.client_kwargs())
    dynamodb = boto3.client("dynamodb", config=client_config(10.0), **moto.client_kwargs())
    suffix = time.monotonic_ns()
    url = sqs.create_queue(QueueName=f"bare-{suffix}", Attributes={"VisibilityTimeout": "30"})[
        "QueueUrl"
    ]
    table = f"bare-{suffix}"
    ensure_table(dynamodb, table)
    lock = threading.Lock()
    done = 0
    first: list[float] = []
    published = 0

    def publish() -> None:
        nonlocal published
        while published < messages:
            visible = int(
                sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]["ApproximateNumberOfMessages"]
            )
            room = min(max(0, BACKLOG - visible), messages - published)
            for start in range(0, room, 10):
                count = min(10, room - start)
                body = "x" * 200
                sqs.send_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(n), "MessageBody": body} for n in range(count)],
                )
            published += room
            time.sleep(PUBLISH_EVERY_S)

    def work() -> None:
        nonlocal done
        sqs_client = boto3.client("sqs", **moto.client_kwargs())
        ddb: Any = boto3.client("dynamodb", config=client_config(10.0), **moto.client_kwargs())
        while True:
            with lock:
                if done >= messages:
                    return
            batch = sqs_client.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if batch and not first:
                first.append(time.monotonic())
            fresh = 0
            for message in batch:
                try:
                    ddb.put_item(
                        TableName=table,
                        Item={"id": {"S": message["MessageId"]}, "state": {"S": "SENDING"}},
                        ConditionExpression="attribute_not_exists(id)",
                    )
                    fresh += 1
                except ddb.exceptions.ConditionalCheckFailedException:
                    pass  # a redelivery (SQS delivers at least once): claimed already
                sqs_client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            with lock:
                done += fresh

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    workers = [threading.Thread(target=work) for _ in range(BARE_WORKERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - first[0]
    publisher.join(5)
    return messages / elapsed


def sender_run(moto: MotoServer, messages: int) -> TrialResult:
    """No faults, no binding limit. `concurrency` 10: one receive batch per replica in flight
    (measured here: 10 → 43/s, 16 → 26/s, 32 → 18-22/s, 64 → 34/s, against moto's ~60-70/s)."""
    config = TrialConfig(
        messages=messages,
        replicas=REPLICAS,
        duplicate_fraction=0.0,
        kill_every_s=None,
        freeze_every_s=None,
        faults=None,
        rate_limit_per_second=10_000.0,
        concurrency=10,
        visibility_timeout_s=30,
        claim_s=30.0,
        backlog=BACKLOG,
    )
    return run_trial(config, moto)


def rate_run(moto: MotoServer) -> TrialResult:
    config = TrialConfig(
        messages=round(RATE * RATE_SECONDS),
        replicas=REPLICAS,
        duplicate_fraction=0.0,
        kill_every_s=None,
        freeze_every_s=None,
        faults=None,
        rate_limit_per_second=RATE,
        concurrency=8,
        visibility_timeout_s=30,
        claim_s=30.0,
        backlog=BACKLOG,
    )
    return run_trial(config, moto)


def fault_run(moto: MotoServer) -> TrialResult:
    config = TrialConfig(
        messages=FAULT_MESSAGES,
        replicas=REPLICAS,
        backlog=BACKLOG,
        seed=50_000,
        limit_s=max(900.0, FAULT_MESSAGES / 2),
    )
    return run_trial(config, moto, progress=True)


def run() -> list[BenchResult]:
    bare: list[float] = []
    through: list[float] = []
    pss: list[float] = []
    with MotoServer() as moto:
        rate = rate_run(moto)
        _log(
            f"rate: max {rate.max_one_second_sends} sends in one second at a limit of "
            f"{RATE:g}/s ({rate.config.messages} messages, {rate.elapsed_s:.0f} s)"
        )
        for n in range(THROUGHPUT_RUNS):
            moto.reset()
            bare.append(bare_loop_rate(moto, THROUGHPUT_MESSAGES))
            moto.reset()
            result = sender_run(moto, THROUGHPUT_MESSAGES)
            if result.tally.sent != THROUGHPUT_MESSAGES:
                raise RuntimeError(f"the throughput run did not send everything: {result.tally}")
            through.append(result.accepted / result.send_span_s)
            pss.append(result.replica_pss_mb)
            _log(
                f"throughput run {n}: senders {through[-1]:.1f}/s, bare loop {bare[-1]:.1f}/s, "
                f"replica PSS {pss[-1]:.1f} MB"
            )
        moto.reset()
        faults = fault_run(moto)
        _log(
            f"fault run: {faults.config.messages} messages, {faults.publishes} publishes, "
            f"{faults.kills} kills, {faults.freezes} freezes, {faults.throttles} throttles, {faults.failures} failures, "
            f"{faults.drops} drops, {faults.slow_sends} slow sends, {faults.redeliveries} "
            f"redeliveries, {faults.reclaims} reclaims, {faults.dead_letters_without_reason} "
            f"redriven by SQS; {faults.tally}; {faults.elapsed_s:.0f} s "
            f"({faults.messages_per_s:.1f}/s)"
        )
    fault_goal = f"0 (over {faults.config.messages} messages; the issue asks >= 50,000)"
    return [
        BenchResult(
            "outbound",
            "sender_rate_ratio",
            rate.max_one_second_sends,
            "sends/s",
            RATE,
            "0.95-1.0, never above 1.0",
        ),
        BenchResult(
            "outbound",
            "sender_throughput_vs_moto",
            round(median(through), 2),
            "messages/s",
            round(median(bare), 2),
            ">= 0.7",
        ),
        BenchResult(
            "outbound", "outbound_duplicates", faults.duplicates, "messages", None, fault_goal
        ),
        BenchResult("outbound", "outbound_lost", faults.lost, "messages", None, fault_goal),
        BenchResult(
            "outbound",
            "sender_pss_mb",
            round(median(pss), 1),
            "MB",
            round(bare_python_pss(), 1),
            "<= 80 MB",
        ),
    ]
