"""Pairing-code login through the browser engine: real Chromium, the stand-in's wa-js surface.

The stand-in implements `WPP.conn.genLinkDeviceCodeForPhoneNumber` the way
wa-js does (an 8-character code; refused once authenticated; the QR stops);
`__standin.typePairingCode` is the phone owner typing the code.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from session_runner.session.engines.base import EngineError, EngineStopped, NotReady
from session_runner.session.engines.browser import BrowserEngine
from tests.integration.engines.conftest import StandinWeb, approve, running

pytestmark = pytest.mark.chromium

CODE = re.compile(r"^[1-9A-HJ-NP-TV-Z]{8}$")  # WhatsApp's alphabet: no 0, I, O, U


async def type_code(engine: BrowserEngine, code: str) -> bool:
    """The phone owner types `code`; whether the stand-in accepted it."""
    assert engine.page is not None
    return bool(
        await engine.page.evaluate("(code) => window.__standin.typePairingCode(code)", code)
    )


@pytest.mark.parametrize("pair_api", ["positional", "object"])
async def test_pairing_code_logs_in_instead_of_the_qr(
    standin: StandinWeb, tmp_path: Path, pair_api: str
) -> None:
    engine = standin.engine(url=standin.url(pair_api=pair_api))
    async with running(engine, tmp_path / "session") as recorder:
        await recorder.wait_count("qr_code", 1)

        code = await engine.request_pairing_code("+1 555 0100 000")

        assert CODE.match(code), code
        [event] = await recorder.wait_count("pairing_code", 1)
        assert event.code == code
        qrs = len(recorder.of("qr_code"))
        await asyncio.sleep(0.6)  # three QR periods of the stand-in (qr_ms=200)
        assert len(recorder.of("qr_code")) == qrs  # WhatsApp Web shows the code now
        assert not engine.ready

        assert not await type_code(engine, "ZZZZZZZZ" if code != "ZZZZZZZZ" else "YYYYYYYY")
        assert not engine.ready
        assert await type_code(engine, f"{code[:4]}-{code[4:]}")
        await recorder.wait_for(lambda: engine.ready, "ready after typing the code")
        assert recorder.of("logged_in")[0].jid == "15550100000@s.whatsapp.net"
        kinds = [event.type for event in recorder.events]
        assert kinds.index("pairing_code") < kinds.index("logged_in")


async def test_a_new_request_replaces_the_code(standin: StandinWeb, tmp_path: Path) -> None:
    engine = standin.engine()
    async with running(engine, tmp_path / "session") as recorder:
        first = await engine.request_pairing_code("15550100000")
        second = await engine.request_pairing_code("15550100000")
        assert [event.code for event in await recorder.wait_count("pairing_code", 2)] == [
            first,
            second,
        ]
        if first != second:
            assert not await type_code(engine, first)  # only the latest code links
        assert await type_code(engine, second)
        await recorder.wait_for(lambda: engine.ready, "ready")


async def test_no_pairing_code_once_logged_in(standin: StandinWeb, tmp_path: Path) -> None:
    engine = standin.engine()
    async with running(engine, tmp_path / "session") as recorder:
        await approve(engine)
        await recorder.wait_for(lambda: engine.ready, "ready")
        with pytest.raises(EngineError, match="already logged in") as refused:
            await engine.request_pairing_code("+15550100000")
        assert not isinstance(refused.value, NotReady)
        assert recorder.of("pairing_code") == []
        assert engine.ready  # asking did not disturb the session


async def test_a_restored_session_needs_no_code(standin: StandinWeb, tmp_path: Path) -> None:
    """The page itself refuses once authenticated (wa-js's check), seen through a restart."""
    session = tmp_path / "session"
    first = standin.engine()
    async with running(first, session) as recorder:
        await approve(first)
        await recorder.wait_for(lambda: first.ready, "ready")
    second = standin.engine()
    async with running(second, session) as recorder:
        await recorder.wait_for(lambda: second.ready, "restored session ready")
        with pytest.raises(EngineError, match="already logged in"):
            await second.request_pairing_code("+15550100000")


async def test_pairing_code_needs_a_phone_number_and_a_running_engine(
    standin: StandinWeb, tmp_path: Path
) -> None:
    engine = standin.engine()
    with pytest.raises(EngineStopped):
        await engine.request_pairing_code("+15550100000")  # not started
    async with running(engine, tmp_path / "session"):
        with pytest.raises(ValueError, match="phone number"):
            await engine.request_pairing_code("120363000000000000@g.us")
        with pytest.raises(ValueError, match="not a phone number"):
            await engine.request_pairing_code("not a number")
    with pytest.raises(EngineStopped):
        await engine.request_pairing_code("+15550100000")
