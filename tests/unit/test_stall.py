"""The stall report: what a process still waits for when its stop runs long."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from session_runner import stall


async def _innermost(gate: asyncio.Event) -> None:
    await gate.wait()


async def _middle(gate: asyncio.Event) -> None:
    await _innermost(gate)


async def _outer(gate: asyncio.Event) -> None:
    await _middle(gate)


async def test_the_await_chain_reaches_the_innermost_coroutine() -> None:
    gate = asyncio.Event()
    task = asyncio.create_task(_outer(gate), name="held")
    await asyncio.sleep(0)
    chain = stall.await_chain(task.get_coro())
    names = [line.rsplit(" ", 1)[1] for line in chain]
    assert names[:3] == ["_outer", "_middle", "_innermost"]
    assert names[3] == "wait"  # asyncio.Event.wait, where the chain meets a future
    assert all(__file__ in line for line in chain[:3])
    gate.set()
    await task


async def test_the_chain_is_bounded_and_empty_for_a_finished_coroutine() -> None:
    gate = asyncio.Event()
    task = asyncio.create_task(_outer(gate))
    await asyncio.sleep(0)
    assert len(stall.await_chain(task.get_coro(), limit=2)) == 2
    gate.set()
    await task
    assert stall.await_chain(task.get_coro()) == []


async def test_describe_tasks_lists_only_pending_tasks_by_name() -> None:
    gate = asyncio.Event()
    pending = [asyncio.create_task(_outer(gate), name=n) for n in ("b-task", "a-task")]
    done = asyncio.create_task(asyncio.sleep(0), name="done-task")
    await done
    described = stall.describe_tasks([*pending, done])
    assert [d["task"] for d in described] == ["a-task", "b-task"]
    assert described[0]["awaiting"][0].endswith(" _outer")
    gate.set()
    await asyncio.gather(*pending)


async def test_a_stop_that_runs_long_is_reported_with_what_it_waits_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop, gate = asyncio.Event(), asyncio.Event()
    held = asyncio.create_task(_outer(gate), name="final-snapshot")
    watch = asyncio.create_task(stall.watch_stop(stop, 0.01))
    await asyncio.sleep(0.05)
    assert not watch.done()  # nothing is reported before a stop is asked for
    with caplog.at_level(logging.ERROR, logger=stall.__name__):
        stop.set()
        await watch
    (record,) = [r for r in caplog.records if r.name == stall.__name__]
    pending = {entry["task"]: entry["awaiting"] for entry in record.pending}  # type: ignore[attr-defined]
    assert any(line.endswith(" _innermost") for line in pending["final-snapshot"])
    gate.set()
    await held


async def test_a_stop_signal_sets_stop_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    stall.on_stop_signals(loop, stop)
    try:
        with caplog.at_level(logging.INFO, logger=stall.__name__):
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(stop.wait(), 5)
        assert "stop requested (SIGTERM)" in caplog.text
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
