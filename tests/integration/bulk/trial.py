"""The bulk kill trial: real `bulk.main` worker processes SIGKILLed at random points of a job,
a successor finishing it, and a judge counting what would have been sent.

One trial: a seeded CSV (valid rows, bad phones, empty variables, quoted newlines) is
staged through the real service; a worker process is started and SIGKILLed after a
random delay; with some probability its successor is SIGKILLed too, once it claimed;
the last successor runs until the job is DONE and exits. Trials run in `lanes`
concurrently, each lane with its own jobs table (a lane's workers see only its jobs),
all publishing to one topic whose pool queue the judge consumes while they run:

- `LedgerJudge`: the real `Ledger`'s claim and record_sent for every queued message,
  one at a time; a CLAIM is a send (counted), DONE is a duplicate the ledger stopped;
- or the real `Sender` with the Twilio stand-in (`run_sender_judge`, a share).

The verdict (`verdict`, pure, table-tested) is by message id: every valid row's id sent
exactly once with the row's recipient and text, nothing else sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from session_runner.bulk.model import BulkState
from session_runner.bulk.service import S3BulkService
from session_runner.bulk.store import ensure_bulk_table
from session_runner.contract.bulk_settings import BulkSettings
from session_runner.sender.ledger import Ledger, ensure_table
from session_runner.sender.ledger_decision import ClaimAction
from session_runner.sender.message import OutboundMessage
from tests.harness.children import dies_with_parent
from tests.harness.devserver import DEV_ACCESS_KEY_ID, DEV_REGION, DEV_SECRET_ACCESS_KEY
from tests.integration.bulk.conftest import BUCKET, LEDGER, TARGET, BulkWorld, chunks_of

REPO = Path(__file__).resolve().parents[3]
TEXT = "Hi {{name}}, code {{code}}"
LEDGER_TABLE = "bulk-trial-ledger"
FINISHED = frozenset({BulkState.DONE, BulkState.CANCELLED, BulkState.FAILED})
#: An id's expected payload: (target, to, text).
Payload = tuple[str, str, str]


# ---------------------------------------------------------------------- the CSV


@dataclass(frozen=True)
class TrialCsv:
    body: bytes
    valid: dict[int, tuple[str, str]]  # row -> (to, text)
    invalid: dict[int, int]  # row -> line


def make_csv(rng: random.Random, trial: int, rows: int) -> TrialCsv:
    """`rows` data rows: ~5% bad phones, ~3% empty names, ~10% names with a quoted newline."""
    lines = ["to,name,code\r\n"]
    valid: dict[int, tuple[str, str]] = {}
    invalid: dict[int, int] = {}
    line = 2
    for row in range(1, rows + 1):
        to = f"+1415{trial:03d}{row:04d}"
        name, code = f"N{row}", str(rng.randrange(10_000))
        draw = rng.random()
        if draw < 0.05:
            lines.append(f"{to[1:]},{name},{code}\r\n")  # no '+': not E.164
            invalid[row] = line
        elif draw < 0.08:
            lines.append(f"{to}, ,{code}\r\n")
            invalid[row] = line
        elif draw < 0.18:
            name = f"{name}\nsecond line"
            lines.append(f'{to},"{name}",{code}\r\n')
            valid[row] = (to, f"Hi {name}, code {code}")
            line += 1
        else:
            lines.append(f"{to},{name},{code}\r\n")
            valid[row] = (to, f"Hi {name}, code {code}")
        line += 1
    return TrialCsv("".join(lines).encode(), valid, invalid)


# ---------------------------------------------------------------------- the verdict


@dataclass(frozen=True)
class Verdict:
    duplicates: tuple[str, ...]  # valid ids sent more than once
    lost: tuple[str, ...]  # valid ids never sent
    strays: tuple[str, ...]  # ids sent that are no valid row's
    wrong: tuple[str, ...]  # ids published with a payload that is not their row's

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.lost or self.strays or self.wrong)


def verdict(
    expected: Mapping[str, Payload],
    sends: Mapping[str, int],
    payloads: Mapping[str, set[Payload]],
) -> Verdict:
    """Judge by id: `sends` counts sends per id, `payloads` every payload seen per id."""
    return Verdict(
        duplicates=tuple(sorted(i for i in expected if sends.get(i, 0) > 1)),
        lost=tuple(sorted(i for i in expected if sends.get(i, 0) == 0)),
        strays=tuple(sorted(i for i, n in sends.items() if n and i not in expected)),
        wrong=tuple(
            sorted(i for i, seen in payloads.items() if i in expected and seen != {expected[i]})
        ),
    )


# ---------------------------------------------------------------------- worker processes


class ForkServer:
    """The client of `forkserver.py`: spawn a worker with an environment, reap exited ones."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(
            dies_with_parent([sys.executable, "-m", "tests.integration.bulk.forkserver"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        assert json.loads(self._readline()) == {"ready": True}
        self.exited: dict[int, int] = {}

    def _readline(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the bulk fork server exited")
        return line

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self._readline())
        return answer

    def spawn(self, env: Mapping[str, str], log: Path) -> int:
        return int(self._ask({"spawn": {"env": dict(env), "log": str(log)}})["pid"])

    def returncode(self, pid: int) -> int | None:
        for done, code in self._ask({"reap": True})["exited"]:
            self.exited[int(done)] = int(code)
        return self.exited.get(pid)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


# ---------------------------------------------------------------------- the judge


@dataclass
class LedgerJudge:
    """Takes every message off the pool's queue and puts it through the real ledger."""

    world: BulkWorld
    sends: Counter[str] = field(default_factory=Counter)
    payloads: dict[str, set[Payload]] = field(default_factory=dict)
    received: int = 0
    stopped_by_ledger: int = 0  # DONE: a second copy of a sent id

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set and the queue is empty. Messages are taken off the queue at
        once and judged from memory: moto's queue operations take time in proportion to
        the queue's length, so a queue left to grow would slow the trial down."""
        dynamodb = self.world.client("dynamodb")
        await asyncio.to_thread(ensure_table, dynamodb, LEDGER_TABLE)
        ledger = Ledger(dynamodb, LEDGER_TABLE)
        inbox: asyncio.Queue[list[OutboundMessage] | None] = asyncio.Queue()
        judges = [asyncio.create_task(self._judge_from(ledger, inbox)) for _ in range(4)]
        # the receivers' own threads: the ledger calls must not keep them waiting
        receiving = ThreadPoolExecutor(2, thread_name_prefix="judge-receive")
        try:
            await asyncio.gather(*(self._receive(stop, inbox, receiving) for _ in range(2)))
        finally:
            receiving.shutdown(wait=False)
            for _ in judges:
                inbox.put_nowait(None)
            await asyncio.gather(*judges)

    async def _receive(
        self,
        stop: asyncio.Event,
        inbox: asyncio.Queue[list[OutboundMessage] | None],
        threads: ThreadPoolExecutor,
    ) -> None:
        sqs = self.world.client("sqs")
        url = self.world.queue_url
        loop = asyncio.get_running_loop()

        def take() -> list[dict[str, Any]]:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages: list[dict[str, Any]] = got.get("Messages", [])
            if messages:
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(messages)
                    ],
                )
            return messages

        while True:
            messages = await loop.run_in_executor(threads, take)
            if not messages:
                if stop.is_set():
                    return
                continue
            inbox.put_nowait([OutboundMessage.from_json(m["Body"]) for m in messages])

    async def _judge_from(
        self, ledger: Ledger, inbox: asyncio.Queue[list[OutboundMessage] | None]
    ) -> None:
        while (batch := await inbox.get()) is not None:
            # copies of one id one after another (as one sender replica would see them),
            # different ids at once (as a sender's concurrency has them)
            by_id: dict[str, list[OutboundMessage]] = {}
            for message in batch:
                by_id.setdefault(message.id, []).append(message)
            await asyncio.gather(*(self._judge_all(ledger, copies) for copies in by_id.values()))

    async def _judge_all(self, ledger: Ledger, copies: list[OutboundMessage]) -> None:
        for message in copies:
            await self._judge(ledger, message)

    async def _judge(self, ledger: Ledger, message: OutboundMessage) -> None:
        self.received += 1
        self.payloads.setdefault(message.id, set()).add((message.target, message.to, message.text))
        decision = await ledger.claim(message.id, "judge", 60.0)
        for _ in range(200):  # another judge task holds the id between its claim and record
            if decision.action is not ClaimAction.BUSY:
                break
            await asyncio.sleep(0.05)
            decision = await ledger.claim(message.id, "judge", 60.0)
        if decision.action is ClaimAction.CLAIM:
            self.sends[message.id] += 1  # what a sender would now send
            assert await ledger.record_sent(message.id, "judge", f"v-{message.id}")
        elif decision.action is ClaimAction.DONE:
            self.stopped_by_ledger += 1
        else:
            raise AssertionError(f"{message.id}: {decision.action} from a one-at-a-time judge")


# ---------------------------------------------------------------------- trials


@dataclass(frozen=True)
class TrialConfig:
    trials: int = 100  # at least this many trials,
    kills: int = 100  # and more until this many workers were SIGKILLed
    max_trials: int = 200
    lanes: int = 3
    rows: tuple[int, int] = (50, 150)
    second_kill: float = 0.3  # the chance that the first successor is killed too
    early_kill: float = 0.1  # the chance that a kill comes within 0.3 s of the start
    seed: int = 17
    lock_seconds: float = 1.0
    heartbeat_seconds: float = 0.3
    finish_limit_s: float = 90.0


@dataclass
class TrialRecord:
    job_id: str
    rows: int
    kills: int = 0
    mid_job_kills: int = 0  # kills of a worker holding the job, before it was DONE
    resumed_from_row: list[int] = field(default_factory=list)  # cursors successors began at
    problems: list[str] = field(default_factory=list)


@dataclass
class TrialsResult:
    records: list[TrialRecord]
    expected: dict[str, Payload]

    @property
    def kills(self) -> int:
        return sum(r.kills for r in self.records)

    @property
    def mid_job_kills(self) -> int:
        return sum(r.mid_job_kills for r in self.records)

    @property
    def resumed_mid_file(self) -> int:
        return sum(1 for r in self.records if any(row > 1 for row in r.resumed_from_row))

    @property
    def problems(self) -> list[str]:
        return [p for r in self.records for p in r.problems]


class Lane:
    """Trials one after another on one jobs table."""

    def __init__(
        self, world: BulkWorld, forks: ForkServer, index: int, folder: Path, config: TrialConfig
    ) -> None:
        self.world = world
        self.forks = forks
        self.index = index
        self.folder = folder
        self.config = config
        self.table = f"bulk-trial-lane-{index}"
        ensure_bulk_table(world.client("dynamodb"), self.table)
        self.settings = BulkSettings(
            table=self.table,
            ledger_table=LEDGER,
            bucket=BUCKET,
            prefix=f"lane-{index}/",
            topic_arn=world.topic_arn,
            aws_endpoint_url=world.moto.endpoint_url,
            aws_region=DEV_REGION,
            lock_seconds=config.lock_seconds,
            heartbeat_seconds=config.heartbeat_seconds,
            poll_seconds=0.1,
            cursor_every_batches=2,
            cursor_every_seconds=0.5,
            publish_concurrency=2,
            read_chunk_bytes=1024,
            exit_when_idle=True,
            log_level="info",
        )
        self.service = S3BulkService(self.settings, world.client("s3"), world.client("dynamodb"))
        #: How long a worker takes over a whole job, per row (an average of what was seen).
        self.seconds_per_row = 0.003

    def env(self, name: str) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": DEV_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DEV_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": DEV_REGION,
            **self.settings.model_copy(update={"pod_name": name}).as_env(),
        }

    async def trial(self, number: int, rng: random.Random) -> tuple[TrialRecord, TrialCsv]:
        rows = rng.randint(*self.config.rows)
        made = make_csv(rng, number, rows)
        job = await self.service.create(
            target=TARGET, text=TEXT, csv_chunks=chunks_of(made.body, 4096), url=None
        )
        record = TrialRecord(job.id, rows)
        victims = 2 if rng.random() < self.config.second_kill else 1
        for k in range(victims):
            name = self._name(number, k)
            pid = self._spawn(number, k)
            if rng.random() < self.config.early_kill:  # as it starts, claims or reads the header
                await asyncio.sleep(rng.uniform(0.0, 0.3))
            else:  # at a random point of its share of the job, once it holds the job
                if not await self._wait(
                    lambda name=name: self._held_by(job.id, name),  # type: ignore[misc]
                    limit_s=30.0,
                ):
                    record.problems.append(f"{job.id}: {name} never held the job")
                    return record, made
                await asyncio.sleep(rng.uniform(0.0, 1.2 * self.seconds_per_row * rows))
            if self.forks.returncode(pid) is not None:  # it finished first: nothing to kill
                self.seconds_per_row *= 0.7  # aim earlier next time
                continue
            os.kill(pid, signal.SIGKILL)  # not reaped yet (only this thread reaps): still ours
            record.kills += 1
            stored = await self.service.store.get(job.id)
            assert stored is not None
            if stored.state is BulkState.RUNNING and _named(stored.lock.owner, name):
                record.mid_job_kills += 1
        last = self._spawn(number, victims)
        last_name = self._name(number, victims)
        claimed: list[tuple[float, int]] = []  # when the last successor was seen holding the job
        done_at: list[float] = []

        async def finished() -> bool:
            stored = await self.service.store.get(job.id)
            if stored is not None and not claimed and _named(stored.lock.owner, last_name):
                claimed.append((time.monotonic(), stored.cursor.row))
            if stored is not None and stored.state is BulkState.DONE and not done_at:
                done_at.append(time.monotonic())
            return self.forks.returncode(last) is not None

        if not await self._wait(finished, limit_s=self.config.finish_limit_s):
            record.problems.append(f"{job.id}: the last successor did not finish")
            os.kill(last, signal.SIGKILL)
            return record, made
        if self.forks.returncode(last) != 0:
            record.problems.append(f"{job.id}: the last successor exited {self.forks.exited[last]}")
        if claimed:
            at, row = claimed[0]
            record.resumed_from_row.append(row)
            if done_at and rows - row + 1 >= rows // 3:
                per_row = (done_at[0] - at) / (rows - row + 1)
                self.seconds_per_row = 0.7 * self.seconds_per_row + 0.3 * per_row
        await self._check_job(record, made)
        return record, made

    async def _check_job(self, record: TrialRecord, made: TrialCsv) -> None:
        job = await self.service.get(record.job_id)
        if job is None or job.state is not BulkState.DONE:
            record.problems.append(f"{record.job_id}: {job.state if job else 'missing'}")
            return
        p = job.progress
        want = (record.rows, len(made.valid), len(made.invalid), len(made.valid))
        if (p.total, p.valid, p.invalid, p.published) != want:
            record.problems.append(
                f"{record.job_id}: progress {(p.total, p.valid, p.invalid, p.published)} != {want}"
            )
        report = b"".join([c async for c in self.service.error_report(record.job_id)])
        lines = report.decode().splitlines()[1:]
        seen = {int(line.split(",")[1]): int(line.split(",")[0]) for line in lines}
        if seen != made.invalid:
            record.problems.append(f"{record.job_id}: error report {seen} != {made.invalid}")

    def _name(self, number: int, k: int) -> str:
        return f"lane{self.index}-t{number}-w{k}"

    def _spawn(self, number: int, k: int) -> int:
        name = self._name(number, k)
        return self.forks.spawn(self.env(name), self.folder / f"{name}.log")

    async def _held_by(self, job_id: str, name: str) -> bool:
        stored = await self.service.store.get(job_id)
        return stored is None or _named(stored.lock.owner, name) or stored.state in FINISHED

    @staticmethod
    async def _wait(check: Callable[[], Awaitable[bool]], *, limit_s: float) -> bool:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if await check():
                return True
            await asyncio.sleep(0.1)
        return False


def _named(owner: str | None, name: str) -> bool:
    """Whether the lock's owner is the worker started as `name` (it adds a random suffix)."""
    return owner is not None and owner.startswith(f"{name}-")


async def run_trials(
    world: BulkWorld,
    config: TrialConfig,
    folder: Path,
    judge: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
    *,
    progress: bool = False,
) -> TrialsResult:
    """Run `config.trials` trials over `config.lanes` lanes while `judge` consumes the queue
    (it returns once its stop event is set and the queue is empty)."""
    forks = ForkServer()
    rng = random.Random(config.seed)
    lanes = [Lane(world, forks, n, folder, config) for n in range(config.lanes)]
    numbers = itertools.count()
    records: list[TrialRecord] = []
    expected: dict[str, Payload] = {}
    stop = asyncio.Event()
    judging = asyncio.create_task(judge(stop))

    async def lane_loop(lane: Lane) -> None:
        lane_rng = random.Random(rng.random())
        for number in numbers:
            if len(records) >= config.trials and sum(r.kills for r in records) >= config.kills:
                return
            if number >= config.max_trials:
                return
            began = time.monotonic()
            record, made = await lane.trial(number, lane_rng)
            records.append(record)
            if progress:
                print(
                    f"# bulk trial {number} lane {lane.index}: {record.rows} rows, "
                    f"{record.kills} kills ({record.mid_job_kills} mid-job), resumed at "
                    f"{record.resumed_from_row}, {time.monotonic() - began:.1f} s "
                    f"{record.problems or ''}",
                    file=sys.stderr,
                    flush=True,
                )
            for row, (to, text) in made.valid.items():
                expected[f"{record.job_id}:{row}"] = (TARGET, to, text)

    try:
        await asyncio.gather(*(lane_loop(lane) for lane in lanes))
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(judging, 120)
        forks.close()
    await judging
    return TrialsResult(records, expected)
