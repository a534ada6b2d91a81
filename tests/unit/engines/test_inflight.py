"""Sends in flight: interrupted at once, or ended when no answer comes."""

from __future__ import annotations

import asyncio

import pytest

from session_runner.session.engines.base import SendInterrupted
from session_runner.session.engines.inflight import InFlightSends


async def test_an_answer_ends_the_wait() -> None:
    sends = InFlightSends()
    task = asyncio.ensure_future(asyncio.sleep(0, result="id-1"))
    await sends.wait(task, answer_within_s=5, no_answer="none")
    assert task.result() == "id-1"


async def test_an_interrupt_ends_the_wait_with_its_reason_and_cancels_the_call() -> None:
    sends = InFlightSends()
    task = asyncio.ensure_future(asyncio.sleep(60))
    waiting = asyncio.ensure_future(sends.wait(task, answer_within_s=60, no_answer="none"))
    await asyncio.sleep(0)
    sends.interrupt("the engine was killed")
    with pytest.raises(SendInterrupted, match="the engine was killed"):
        await waiting
    await asyncio.sleep(0)
    assert task.cancelled()


async def test_no_answer_in_time_is_interrupted() -> None:
    sends = InFlightSends()
    task = asyncio.ensure_future(asyncio.sleep(60))
    with pytest.raises(SendInterrupted, match="no answer"):
        await sends.wait(task, answer_within_s=0.01, no_answer="no answer")
    await asyncio.sleep(0)
    assert task.cancelled()
