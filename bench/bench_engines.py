"""`make bench ONLY=engines`: memory of one idle account per engine, and the browser's cold start.

Metrics (issue 7, point 8); memory is PSS (/proc/PID/smaps_rollup) summed over
EVERY process of the account, each counted once (RSS sums count Chromium's
shared binary once per process and overstate it 2-4x):

- `browser_account_pss_mb`, goal <= 450 MB: one idle, logged-in browser
  account: a fresh Python process runs `BrowserEngine` against the stand-in
  WhatsApp Web (tests/fixtures/whatsapp_web, served on 127.0.0.1) on a fresh
  profile, the stand-in's phone approves the login, the engine reports
  Connected, then `SETTLE_S` of idleness and three readings 0.5 s apart (the
  middle one). The processes: that Python process and everything below it
  (Playwright's node driver, Chromium and its zygotes, GPU, utility and
  renderer processes, found by walking /proc/*/stat parent ids), plus anything
  left in Chromium's process group; each pid once. Value: all of
  `chromium.LOW_MEMORY_TUNINGS` (the engine's default); baseline: the same with
  none of them (Playwright's defaults plus the closed-network flags), measured
  in the same run, so ratio = tuned / default. Medians of `RUNS` (5) accounts
  each, configurations interleaved.
- `browser_runner_pss_mb`, `browser_driver_pss_mb`, `browser_chromium_pss_mb`,
  `browser_chromium_processes`: the same accounts split into the Python
  process, the node driver and Chromium (value tuned, baseline default).
- `browser_cold_start_seconds`: from `engine.start()` until WhatsApp Web is
  loaded with WPP ready, on a fresh profile in a fresh process: the driver
  spawned, Chromium launched, the page loaded, wa-js injected, and the first
  QrCode event (WPP ready on a profile that is not logged in yet: Connected
  needs a phone to approve, which is not the engine's time). Median of the
  same `RUNS` runs, tuned vs default. The stand-in page is tiny; WhatsApp
  Web's own load adds its download and boot time on top.
- `browser_pss_saved_mb_<tuning>`: what each adopted tuning saves, by leaving
  it out: median PSS of all tunings except that one minus the median PSS with
  all of them (`SAVING_RUNS`, 3, accounts per leave-one-out configuration).
  Leave-one-out rather than an incremental ladder, so each figure is the
  saving of that change in the configuration that ships and does not depend
  on the order of a ladder; the savings need not add up to the total
  (reported as `browser_pss_saved_mb_total`, default minus tuned).
- `protocol_account_pss_mb`, goal <= 120 MB: a runner-like subprocess running
  one idle `ProtocolEngine` (imports the engine, starts it on a temp session
  dir, sleeps), summed over the process and any descendants (neonize runs
  whatsmeow in-process, so it is one process). Baseline: a bare Python
  interpreter. WhatsApp cannot be reached here, so "idle" is an engine whose Go
  client exists, whose store is open and whose dial fails and is retried with
  backoff; a logged-in session also holds its websocket, signal sessions and
  app state (a few MB more).

Environment: WAFLEET_BENCH_RUNS, WAFLEET_BENCH_SAVING_RUNS, WAFLEET_BENCH_SETTLE_S,
WAFLEET_CHROMIUM_PATH. The media benchmarks of issue 7 point 5 are
`ONLY=media-browser` and `ONLY=media-protocol`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from bench.result import BenchResult, median
from bench.standin import STANDIN_WAJS, standin_site
from session_runner.procmem import pss_mb
from session_runner.session.engines.chromium import DEFAULT_CHROMIUM_PATH, LOW_MEMORY_NAMES

REPO = Path(__file__).resolve().parents[1]
SETTLE_S = float(os.environ.get("WAFLEET_BENCH_SETTLE_S", "4"))
RUNS = int(os.environ.get("WAFLEET_BENCH_RUNS", "5"))
SAVING_RUNS = int(os.environ.get("WAFLEET_BENCH_SAVING_RUNS", "3"))
BENCH = "engines"
BROWSER_GOAL = "<= 450 MB"
PROTOCOL_GOAL = "<= 120 MB"

#: One browser account, as the runner would run it: prints a JSON line once
#: Connected, then idles until its stdin gets a line, then stops the engine.
_BROWSER_ACCOUNT = textwrap.dedent(
    """
    import asyncio, json, pathlib, sys, time
    from session_runner.session.engines.browser import BrowserEngine, BrowserEngineSettings

    async def main() -> None:
        config = json.loads(sys.argv[1])
        engine = BrowserEngine(
            chromium_path=pathlib.Path(config["chromium"]),
            wajs_path=pathlib.Path(config["wajs"]),
            phone_number="+15550100000",
            options=BrowserEngineSettings(**config["options"]),
        )
        seen: dict[str, float] = {}
        arrived = asyncio.Event()

        async def consume() -> None:
            async for event in engine.events():
                seen.setdefault(event.type, time.perf_counter())
                arrived.set()

        async def first(kind: str) -> float:
            while kind not in seen:
                arrived.clear()
                await asyncio.wait_for(arrived.wait(), 60)
            return seen[kind]

        consumer = asyncio.ensure_future(consume())
        started = time.perf_counter()
        await engine.start(pathlib.Path(config["session"]))
        cold_start_s = await first("qr_code") - started
        await engine.page.evaluate("() => window.__standin.approveLogin()")
        await first("connected")
        print(json.dumps({
            "cold_start_s": cold_start_s,
            "driver_pid": engine.driver_pid,
            "chromium_pid": engine.chromium_pid,
        }), flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        await engine.stop()
        await consumer

    asyncio.run(main())
    """
)

_PROTOCOL_ACCOUNT = textwrap.dedent(
    """
    import asyncio, pathlib, sys
    from session_runner.session.engines.protocol import ProtocolEngine

    async def main() -> None:
        engine = ProtocolEngine(phone_number="+15550100000")
        await engine.start(pathlib.Path(sys.argv[1]))
        print("ready", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)
_BARE_PYTHON = "import sys, time; print('ready', flush=True); time.sleep(3600)"


# -- which processes are the account ----------------------------------------------------


def _parent_and_group(pid: int) -> tuple[int, int] | None:
    """(ppid, pgid) of a live, non-zombie process; None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[2])


def account_pids(root: int, chromium_pid: int | None) -> list[int]:
    """`root` and every descendant (by /proc/*/stat ppid), plus Chromium's process group.

    The group catches a Chromium helper re-parented away from the tree; a set
    makes sure nothing is counted twice.
    """
    table: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := _parent_and_group(int(entry))) is not None:
            table[int(entry)] = found
    members = {root} if root in table else set()
    grew = True
    while grew:
        grew = False
        for pid, (ppid, pgid) in table.items():
            if pid not in members and (ppid in members or pgid == chromium_pid):
                members.add(pid)
                grew = True
    return sorted(members)


# -- one browser account ----------------------------------------------------------------


@dataclass(frozen=True)
class BrowserSample:
    """One idle browser account: PSS (MB) in total and by part, and its cold start."""

    cold_start_s: float
    total_mb: float
    runner_mb: float
    driver_mb: float
    chromium_mb: float
    chromium_processes: int


def _kill_account(process: subprocess.Popen[str], chromium_pid: int | None) -> None:
    """After a failure: SIGKILL the whole account, so no Chromium outlives the benchmark."""
    for pid in reversed(account_pids(process.pid, chromium_pid)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


def browser_account(url: str, workdir: Path, tunings: tuple[str, ...]) -> BrowserSample:
    """Run one idle, logged-in browser account with `tunings` on a fresh profile; measure it."""
    session = Path(tempfile.mkdtemp(prefix="account-", dir=workdir))
    config = {
        "session": str(session),
        "chromium": os.environ.get("WAFLEET_CHROMIUM_PATH", str(DEFAULT_CHROMIUM_PATH)),
        "wajs": str(STANDIN_WAJS),
        "options": {
            "url": url,
            "memory_ceiling_mb": 0,
            "memory_tunings": list(tunings),
        },
    }
    process = subprocess.Popen(
        [sys.executable, "-c", _BROWSER_ACCOUNT, json.dumps(config)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    chromium_pid: int | None = None
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        line = process.stdout.readline()
        if not line.startswith("{"):
            raise RuntimeError(f"the browser account did not get ready: {line!r}")
        ready = json.loads(line)
        chromium_pid, driver_pid = ready["chromium_pid"], ready["driver_pid"]
        time.sleep(SETTLE_S)
        readings: list[tuple[float, float, float, float, int]] = []
        for _ in range(3):
            pids = account_pids(process.pid, chromium_pid)
            chromium = [pid for pid in pids if pid not in (process.pid, driver_pid)]
            readings.append(
                (
                    pss_mb(pids),
                    pss_mb([process.pid]),
                    pss_mb([driver_pid]),
                    pss_mb(chromium),
                    len(chromium),
                )
            )
            time.sleep(0.5)
        total, runner, driver, chromium_mb, processes = sorted(readings)[1]
        process.stdin.write("stop\n")
        process.stdin.flush()
        process.wait(60)
        return BrowserSample(ready["cold_start_s"], total, runner, driver, chromium_mb, processes)
    finally:
        if process.poll() is None:
            _kill_account(process, chromium_pid)
        shutil.rmtree(session, ignore_errors=True)


def _without(name: str) -> tuple[str, ...]:
    return tuple(tuning for tuning in LOW_MEMORY_NAMES if tuning != name)


def measure_browser(workdir: Path) -> dict[str, list[BrowserSample]]:
    """Samples per configuration ("tuned", "default", "without:<name>"), interleaved."""
    configs: dict[str, tuple[tuple[str, ...], int]] = {
        "tuned": (LOW_MEMORY_NAMES, RUNS),
        "default": ((), RUNS),
        **{f"without:{name}": (_without(name), SAVING_RUNS) for name in LOW_MEMORY_NAMES},
    }
    samples: dict[str, list[BrowserSample]] = {name: [] for name in configs}
    with standin_site(workdir) as site:
        url = f"{site}/index.html"
        for round_ in range(max(count for _, count in configs.values())):
            for name, (tunings, count) in configs.items():
                if round_ >= count:
                    continue
                sample = browser_account(url, workdir, tunings)
                samples[name].append(sample)
                print(
                    f"# {name:32s} {sample.total_mb:6.1f} MB (runner {sample.runner_mb:.1f}, "
                    f"driver {sample.driver_mb:.1f}, chromium {sample.chromium_mb:.1f} in "
                    f"{sample.chromium_processes} processes), cold start "
                    f"{sample.cold_start_s:.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
    return samples


# -- the protocol engine ----------------------------------------------------------------


def idle_pss(argv: list[str]) -> float:
    """Start `argv`, wait for its "ready" line and `SETTLE_S`, median PSS of three readings."""
    process = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "ready" not in line:
            raise RuntimeError(f"{argv[:3]} did not get ready: {line!r}")
        time.sleep(SETTLE_S)
        readings = []
        for _ in range(3):
            readings.append(pss_mb(account_pids(process.pid, None)))
            time.sleep(0.5)
        return median(readings)
    finally:
        process.kill()
        process.wait()


# -- results ----------------------------------------------------------------------------


def _median_of(samples: list[BrowserSample], field: str) -> float:
    return median([float(getattr(sample, field)) for sample in samples])


def run() -> list[BenchResult]:
    """Browser: tuned vs default accounts and leave-one-out savings; protocol vs bare Python."""
    workdir = Path(tempfile.mkdtemp(prefix="wafleet-bench-engines-"))
    try:
        samples = measure_browser(workdir)
        protocol = idle_pss([sys.executable, "-c", _PROTOCOL_ACCOUNT, str(workdir / "protocol")])
        bare = idle_pss([sys.executable, "-c", _BARE_PYTHON])
        print(
            f"# idle protocol engine {protocol:.1f} MB, bare python {bare:.1f} MB", file=sys.stderr
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    tuned, default = samples["tuned"], samples["default"]

    def compare(metric: str, field: str, unit: str, goal: str | None = None) -> BenchResult:
        digits = 3 if unit == "s" else 1
        return BenchResult(
            bench=BENCH,
            metric=metric,
            value=round(_median_of(tuned, field), digits),
            unit=unit,
            baseline=round(_median_of(default, field), digits),
            goal=goal,
        )

    results = [
        compare("browser_account_pss_mb", "total_mb", "MB", BROWSER_GOAL),
        compare("browser_runner_pss_mb", "runner_mb", "MB"),
        compare("browser_driver_pss_mb", "driver_mb", "MB"),
        compare("browser_chromium_pss_mb", "chromium_mb", "MB"),
        compare("browser_chromium_processes", "chromium_processes", "processes"),
        compare("browser_cold_start_seconds", "cold_start_s", "s"),
    ]
    all_on = _median_of(tuned, "total_mb")
    results.append(
        BenchResult(
            bench=BENCH,
            metric="browser_pss_saved_mb_total",
            value=round(_median_of(default, "total_mb") - all_on, 1),
            unit="MB",
        )
    )
    for name in LOW_MEMORY_NAMES:
        without = _median_of(samples[f"without:{name}"], "total_mb")
        results.append(
            BenchResult(
                bench=BENCH,
                metric=f"browser_pss_saved_mb_{name}",
                value=round(without - all_on, 1),
                unit="MB",
            )
        )
    results.append(
        BenchResult(
            bench=BENCH,
            metric="protocol_account_pss_mb",
            value=round(protocol, 1),
            unit="MB",
            baseline=round(bare, 1),
            goal=PROTOCOL_GOAL,
        )
    )
    return results


if __name__ == "__main__":
    for result in run():
        print(result)
