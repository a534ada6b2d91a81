"""Issue 17's proof: bulk workers SIGKILLed at random points, and still every valid row is sent
exactly once and none is lost.

A hundred seeded trials (`trial.py`): real worker processes (`session_runner.bulk.main`)
on the moto server, killed once or twice mid-job, a successor finishing each job; the
pool's queue is judged by the real ledger (claim, record) message by message. A smaller
share is judged end to end by the real sender and the Twilio stand-in. The test also
checks the kills happened mid-job and successors resumed mid-file, so it cannot pass by
every kill missing.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest

from session_runner.bulk.tally import BulkTally, Outcome
from session_runner.sender.ledger import Ledger, client_config
from session_runner.sender.queue import PoolQueue
from session_runner.sender.ratelimit import PoolRateLimiter
from session_runner.sender.vendors import create_adapter
from session_runner.sender.worker import Sender, SenderConfig
from tests.harness.devserver import MotoServer
from tests.harness.vendor_standins import TwilioStandin
from tests.integration.bulk.conftest import LEDGER, BulkWorld, chunks_of, make_world, until
from tests.integration.bulk.trial import (
    LedgerJudge,
    Payload,
    TrialConfig,
    Verdict,
    make_csv,
    run_trials,
    verdict,
)

A, B = ("t", "+1", "x"), ("t", "+2", "y")


@pytest.mark.parametrize(
    ("sends", "payloads", "expected"),
    [
        pytest.param({"a": 1, "b": 1}, {"a": {A}, "b": {B}}, Verdict((), (), (), ()), id="clean"),
        pytest.param({"a": 2, "b": 1}, {"a": {A}, "b": {B}}, Verdict(("a",), (), (), ()), id="dup"),
        pytest.param({"a": 1}, {"a": {A}}, Verdict((), ("b",), (), ()), id="lost"),
        pytest.param({"a": 1, "b": 1, "c": 1}, {}, Verdict((), (), ("c",), ()), id="a stray"),
        pytest.param(
            {"a": 1, "b": 1}, {"a": {A, B}, "b": {B}}, Verdict((), (), (), ("a",)), id="two bodies"
        ),
        pytest.param({"a": 1, "b": 1, "c": 0}, {}, Verdict((), (), (), ()), id="a zero is none"),
    ],
)
def test_the_verdict_by_message_id(
    sends: dict[str, int], payloads: dict[str, set[Payload]], expected: Verdict
) -> None:
    assert verdict({"a": A, "b": B}, sends, payloads) == expected


def test_the_trial_csv_says_where_its_rows_are() -> None:
    made = make_csv(random.Random(3), 7, 300)
    records = list(csv.reader(io.StringIO(made.body.decode(), newline="")))
    assert len(records) == 301
    assert set(made.valid) | set(made.invalid) == set(range(1, 301))
    assert made.invalid
    assert not set(made.valid) & set(made.invalid)
    assert any("\n" in text for _, text in made.valid.values())  # quoted newlines happen
    assert max(made.invalid.values()) > max(made.invalid) + 1  # so lines run ahead of rows


@pytest.fixture
def trial_world(moto_server: MotoServer) -> BulkWorld:
    moto_server.reset()
    return make_world(moto_server)


@pytest.mark.timeout(600)
async def test_a_hundred_kill_trials_send_every_valid_row_exactly_once(
    trial_world: BulkWorld,
) -> None:
    judge = LedgerJudge(trial_world)
    with tempfile.TemporaryDirectory(prefix="bulk-trials-") as folder:
        result = await run_trials(trial_world, TrialConfig(trials=100), Path(folder), judge.run)

    assert result.problems == []
    outcome = verdict(result.expected, judge.sends, judge.payloads)
    assert outcome == Verdict((), (), (), ()), outcome
    assert len(result.records) >= 100
    # the kills were real: mid-job, successors resumed mid-file and re-published rows
    stats = (result.kills, result.mid_job_kills, result.resumed_mid_file, judge.stopped_by_ledger)
    assert result.kills >= 100, stats
    assert result.mid_job_kills >= 50, stats
    assert result.resumed_mid_file >= 20, stats
    assert judge.stopped_by_ledger > 0, stats  # re-published rows the ledger did not send again


@pytest.mark.timeout(300)
async def test_kill_trials_judged_by_the_real_sender_and_the_vendor(
    trial_world: BulkWorld,
) -> None:
    """End to end: the pool's real sender takes the queue and sends through Twilio's
    stand-in; the stand-in counts by our id."""
    async with TwilioStandin() as vendor:
        sender = _sender(trial_world, vendor)
        sends: Counter[str] = Counter()

        async def judge(stop: asyncio.Event) -> None:
            running = asyncio.create_task(sender.run(stop_sender))
            await stop.wait()
            sqs = trial_world.client("sqs")
            await until(lambda: _drained(sqs, trial_world.queue_url), every_s=0.5, limit_s=120)
            stop_sender.set()
            await running

        stop_sender = asyncio.Event()
        with tempfile.TemporaryDirectory(prefix="bulk-trials-") as folder:
            result = await run_trials(
                trial_world,
                TrialConfig(trials=4, kills=4, lanes=2, rows=(80, 120), second_kill=0.5, seed=5),
                Path(folder),
                judge,
            )
        await sender.adapter.close()
        payloads: dict[str, set[Payload]] = {}
        for send in vendor.log.sends:
            assert send.our_id is not None
            sends[send.our_id] += 1
            payloads.setdefault(send.our_id, set()).add(
                ("bulk-pool", send.to.removeprefix("whatsapp:"), send.body)
            )

    assert result.problems == []
    assert result.mid_job_kills > 0
    assert verdict(result.expected, sends, payloads) == Verdict((), (), (), ())
    # each job's progress counts its rows sent once: the sender tallied every SENT it wrote
    # (the trials checked `published` per job already)
    tally = BulkTally(trial_world.client("dynamodb"), LEDGER)
    for job_id in {message_id.split(":")[0] for message_id in result.expected}:
        rows = sum(1 for message_id in result.expected if message_id.startswith(f"{job_id}:"))
        assert (await tally.counts(job_id))["sent"] == rows, job_id


def _sender(world: BulkWorld, vendor: TwilioStandin) -> Sender:
    kwargs = world.moto.client_kwargs()
    dynamodb = boto3.client("dynamodb", config=client_config(5.0), **kwargs)
    adapter = create_adapter(
        "twilio",
        vendor.credentials(),
        base_url=vendor.base_url,
        timeout=aiohttp.ClientTimeout(total=5.0),
        status_callback="http://127.0.0.1:9/twilio/status",
    )
    dlq = world.client("sqs").create_queue(QueueName="bulk-pool-dlq")["QueueUrl"]
    return Sender(
        SenderConfig(
            identity="bulk-trial-sender",
            concurrency=8,
            claim_s=10.0,
            visibility_timeout_s=30,
            max_receive_count=5,
            sender_number=vendor.sender,
            send_timeout_s=3.0,
            skew_margin_s=0.5,
            receive_wait_s=1,
        ),
        PoolQueue(boto3.client("sqs", **kwargs), world.queue_url, dlq),
        Ledger(dynamodb, LEDGER),
        PoolRateLimiter(dynamodb, LEDGER, "trial/bulk-pool", 500.0),
        adapter,
    )


async def _drained(sqs: Any, url: str) -> bool:
    attributes = (
        await asyncio.to_thread(
            sqs.get_queue_attributes,
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )
    )["Attributes"]
    return sum(int(v) for v in attributes.values()) == 0


async def test_concurrent_tallies_of_one_outcome_count_it_once(trial_world: BulkWorld) -> None:
    """On the atomic moto: DynamoDB serialises the transactions, moto's threads would not."""
    service = trial_world.service()
    job = await service.create(
        target="bulk-pool",
        text="hi",
        csv_chunks=chunks_of(b"to\n+14155550001\n"),
        url=None,
    )
    tallies = [BulkTally(trial_world.client("dynamodb"), LEDGER) for _ in range(4)]
    counted = await asyncio.gather(
        *(t.record(f"{job.id}:1", Outcome.SENT) for t in tallies for _ in range(3))
    )
    assert sum(counted) == 1
    seen = await service.get(job.id)
    assert seen is not None
    assert seen.progress.sent == 1
