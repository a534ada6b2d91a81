"""Local stand-ins for the HTTP vendors the sender talks to (Meta Cloud API, Twilio).

Each is a real aiohttp server on 127.0.0.1 and a free port, usable as an
async context manager or through the fixtures below, and answers like the
real API for the calls the adapters make: same paths, auth checks, request
validation, success and error shapes. Each records every accepted send with
our message id as the real API carries it (`standin.log`), so a test can
assert that nothing was sent twice (`standin.log.sent_twice() == {}`), and
takes fault knobs (`standin.faults = Faults(...)`): errors, throttling by
fraction or rate, slow answers, connections dropped after the send.

The fixtures (`meta_standin`, `twilio_standin`, `callback_sink`) are plain
pytest fixtures: list this module in `pytest_plugins`, or import their
functions (`*_fixture`) into a test module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness.vendor_standins.common import (
    AcceptedSend,
    CallbackSink,
    Faults,
    Plan,
    ReceivedCallback,
    plan_request,
)
from tests.harness.vendor_standins.meta import MetaStandin
from tests.harness.vendor_standins.twilio import TwilioStandin


@pytest.fixture(name="meta_standin")
async def meta_standin_fixture() -> AsyncIterator[MetaStandin]:
    async with MetaStandin() as standin:
        yield standin


@pytest.fixture(name="twilio_standin")
async def twilio_standin_fixture() -> AsyncIterator[TwilioStandin]:
    async with TwilioStandin() as standin:
        yield standin


@pytest.fixture(name="callback_sink")
async def callback_sink_fixture() -> AsyncIterator[CallbackSink]:
    async with CallbackSink() as sink:
        yield sink


__all__ = [
    "AcceptedSend",
    "CallbackSink",
    "Faults",
    "MetaStandin",
    "Plan",
    "ReceivedCallback",
    "TwilioStandin",
    "callback_sink_fixture",
    "meta_standin_fixture",
    "plan_request",
    "twilio_standin_fixture",
]
