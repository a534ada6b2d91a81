"""The browser engine with real Playwright and Debian's Chromium, against the stand-in.

Every test launches a real Chromium on a profile in tmp_path and loads the
stand-in WhatsApp Web from 127.0.0.1; the engine injects the stand-in wa-js
exactly as it injects the real one.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from session_runner.session.engines.base import EngineError, NotReady, SendInterrupted
from session_runner.session.engines.browser import find_browser_pid
from session_runner.session.engines.events import AckStatus, MediaRef
from tests.integration.engines.conftest import StandinWeb, approve, running

pytestmark = pytest.mark.chromium


async def test_qr_rotates_then_login_makes_it_ready(standin: StandinWeb, tmp_path: Path) -> None:
    engine = standin.engine()
    async with running(engine, tmp_path / "session") as recorder:
        codes = await recorder.wait_count("qr_code", 3)
        assert len({code.payload for code in codes}) == len(codes)
        assert all(code.payload.startswith("2@") for code in codes)
        assert not engine.ready
        with pytest.raises(NotReady):
            await engine.send_text("+15550100001", "too early")

        await approve(engine)
        await recorder.wait_for(lambda: engine.ready, "ready")
        kinds = [event.type for event in recorder.events]
        assert "logged_in" in kinds
        assert "connected" in kinds
        assert recorder.of("logged_in")[0].jid == "15550100000@s.whatsapp.net"
        rotated = len(recorder.of("qr_code"))
        await asyncio.sleep(0.5)
        assert len(recorder.of("qr_code")) == rotated  # no QR once logged in
    assert recorder.events[-1].type == "disconnected"
    assert recorder.events[-1].reason == "stopped"


async def test_send_text_acks_and_inbound(standin: StandinWeb, tmp_path: Path) -> None:
    engine = standin.engine()
    async with running(engine, tmp_path / "session") as recorder:
        await approve(engine)
        await recorder.wait_for(lambda: engine.ready, "ready")

        message_id = await engine.send_text("+1 555 0100 001", "hello")
        assert message_id.startswith("true_15550100001@c.us_3EB0")
        assert await engine.send_text("15550100001", "x", idempotency_key="k") == (
            await engine.send_text("15550100001", "x", idempotency_key="k")
        )
        await recorder.wait_for(
            lambda: [a for a in recorder.of("message_ack") if a.message_id == message_id][2:],
            "three acks",
        )
        acks = [a.status for a in recorder.of("message_ack") if a.message_id == message_id]
        assert acks == [AckStatus.SENT, AckStatus.DELIVERED, AckStatus.READ]

        assert engine.page is not None
        inbound_id = await engine.page.evaluate(
            "() => window.__standin.inbound('15550100009@c.us', 'hi there')"
        )
        [message] = await recorder.wait_count("inbound_message", 1)
        assert message.message_id == inbound_id
        assert message.chat_jid == message.sender_jid == "15550100009@s.whatsapp.net"
        assert message.text == "hi there"
        # our own sends echo as chat.new_message with fromMe: never reported as inbound
        assert len(recorder.of("inbound_message")) == 1


async def test_conflict_fences_the_engine(standin: StandinWeb, tmp_path: Path) -> None:
    engine = standin.engine()
    async with running(engine, tmp_path / "session") as recorder:
        await approve(engine)
        await recorder.wait_for(lambda: engine.ready, "ready")
        launches = engine.launches
        assert engine.page is not None
        await engine.page.evaluate("() => window.__standin.conflict()")
        await recorder.wait_count("conflict", 1)
        await recorder.wait_count("disconnected", 1)
        assert not engine.ready
        assert engine.phase == "conflicted"
        with pytest.raises(NotReady):
            await engine.send_text("15550100001", "after conflict")
        await asyncio.sleep(0.5)
        assert engine.launches == launches
        assert recorder.of("connected")[-1] is recorder.of("connected")[0]
        assert [e.type for e in recorder.events].count("connected") == 1


async def test_logout_returns_to_qr(standin: StandinWeb, tmp_path: Path) -> None:
    engine = standin.engine()
    async with running(engine, tmp_path / "session") as recorder:
        await approve(engine)
        await recorder.wait_for(lambda: engine.ready, "ready")
        before = len(recorder.of("qr_code"))
        assert engine.page is not None
        await engine.page.evaluate("() => window.__standin.logout()")
        [logged_out] = await recorder.wait_count("logged_out", 1)
        assert "unlinked" in logged_out.reason
        assert not engine.ready
        # WhatsApp Web reloads after a logout; the engine bridges the new document
        await recorder.wait_count("qr_code", before + 1)


async def test_profile_persists_across_stop_and_start(standin: StandinWeb, tmp_path: Path) -> None:
    session = tmp_path / "session"
    first = standin.engine()
    async with running(first, session) as recorder:
        await recorder.wait_count("qr_code", 1)
        await approve(first)
        await recorder.wait_for(lambda: first.ready, "ready")
    assert (session / "profile" / "Default").is_dir()

    second = standin.engine()
    async with running(second, session) as recorder:
        await recorder.wait_for(lambda: second.ready, "ready from the profile")
        assert recorder.of("qr_code") == []
        assert recorder.of("logged_in")[0].jid == "15550100000@s.whatsapp.net"


async def test_killed_chromium_is_recovered(standin: StandinWeb, tmp_path: Path) -> None:
    engine = standin.engine()
    async with running(engine, tmp_path / "session") as recorder:
        await approve(engine)
        await recorder.wait_for(lambda: engine.ready, "ready")
        pid = engine.chromium_pid
        assert pid is not None
        codes = len(recorder.of("qr_code"))

        os.kill(pid, signal.SIGKILL)
        [gone] = await recorder.wait_count("disconnected", 1)
        assert gone.reason == "browser exited"
        await recorder.wait_count("connected", 2, within=30)
        assert engine.ready
        assert engine.chromium_pid not in (None, pid)
        assert engine.launches == 2
        assert len(recorder.of("qr_code")) == codes  # same profile: still logged in
        assert await engine.send_text("15550100001", "after the crash")


def _ours(profile: Path) -> list[int]:
    """Live processes whose argv names our profile (zombies have no argv)."""
    marker = f"--user-data-dir={profile}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in argv:
                found.append(int(entry))
    return found


async def test_kill_is_synchronous_and_leaves_no_chromium(
    standin: StandinWeb, tmp_path: Path
) -> None:
    engine = standin.engine()
    session = tmp_path / "session"
    profile = (session / "profile").resolve()
    async with running(engine, session) as recorder:
        await approve(engine)
        await recorder.wait_for(lambda: engine.ready, "ready")
        assert find_browser_pid(profile) == engine.chromium_pid
        assert _ours(profile)
        pending = asyncio.ensure_future(engine.page.evaluate("() => new Promise(() => {})"))  # type: ignore[union-attr]

        engine.kill()  # not awaited: synchronous
        assert not engine.ready
        assert engine.phase == "killed"
        await recorder.wait_for(lambda: recorder.task is not None and recorder.task.done(), "end")
        await recorder.wait_for(lambda: not _ours(profile), "no chromium left", within=10)
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
        engine.kill()  # idempotent


async def test_quiesce_closes_and_relaunches(standin: StandinWeb, tmp_path: Path) -> None:
    engine = standin.engine()
    session = tmp_path / "session"
    profile = (session / "profile").resolve()
    async with running(engine, session) as recorder:
        await approve(engine)
        await recorder.wait_for(lambda: engine.ready, "ready")
        codes = len(recorder.of("qr_code"))
        async with engine.quiesce():
            assert not engine.ready
            assert engine.chromium_pid is None
            assert not _ours(profile)
            with pytest.raises(NotReady):
                await engine.send_text("15550100001", "during the snapshot")
        assert engine.launches == 2
        await recorder.wait_count("connected", 2)
        await recorder.wait_for(lambda: engine.ready, "ready again")
        assert len(recorder.of("qr_code")) == codes


async def test_memory_ceiling_restarts_chromium(standin: StandinWeb, tmp_path: Path) -> None:
    engine = standin.engine(memory_ceiling_mb=1, memory_check_interval_s=0.3)
    async with running(engine, tmp_path / "session") as recorder:
        assert await engine.chromium_pss_mb() > 1
        await recorder.wait_count("qr_code", 1)
        await recorder.wait_for(lambda: engine.launches >= 2, "a restart")
        await recorder.wait_count("qr_code", 2)


async def test_send_media_streams_the_file(standin: StandinWeb, tmp_path: Path) -> None:
    engine = standin.engine()
    path = tmp_path / "clip.pdf"
    with path.open("wb") as handle:
        handle.write(b"%PDF-1.7\n")
        handle.write(os.urandom(20 * 1024 * 1024))
    media = await MediaRef.from_file_async(path, "application/pdf", filename="report.pdf")
    async with running(engine, tmp_path / "session") as recorder:
        await approve(engine)
        await recorder.wait_for(lambda: engine.ready, "ready")
        message_id = await engine.send_media("15550100001", media, caption="the report")
        assert message_id.startswith("true_15550100001@c.us_")
        assert engine.page is not None
        [received] = await engine.page.evaluate("() => window.__waApp.files")
        assert received["size"] == media.size
        assert received["sha256"] == media.sha256
        assert received["name"] == "report.pdf"
        assert received["mimetype"] == "application/pdf"
        assert received["caption"] == "the report"
        assert received["contentKind"] == "blob"

        with pytest.raises(ValueError, match="not allowed"):
            await engine.send_media("15550100001", media.model_copy(update={"mime_type": "x/y"}))
        with pytest.raises(ValueError, match="changed"):
            await engine.send_media("15550100001", media.model_copy(update={"sha256": "0" * 64}))
        with pytest.raises(ValueError, match="looks like"):
            await engine.send_media(
                "15550100001", media.model_copy(update={"mime_type": "image/png"})
            )


async def test_a_crashed_page_is_recovered(standin: StandinWeb, tmp_path: Path) -> None:
    engine = standin.engine()
    async with running(engine, tmp_path / "session") as recorder:
        await approve(engine)
        await recorder.wait_for(lambda: engine.ready, "ready")
        assert engine.page is not None
        crash = asyncio.ensure_future(engine.page.goto("chrome://crash"))
        [gone] = await recorder.wait_count("disconnected", 1)
        assert gone.reason == "page crashed"
        await recorder.wait_count("connected", 2, within=30)
        assert engine.ready
        await asyncio.gather(crash, return_exceptions=True)


async def test_sends_in_flight_are_interrupted(standin: StandinWeb, tmp_path: Path) -> None:
    engine = standin.engine()
    async with running(engine, tmp_path / "session") as recorder:
        await approve(engine)
        await recorder.wait_for(lambda: engine.ready, "ready")
        assert engine.page is not None
        await engine.page.evaluate("() => window.__standin.holdSends()")
        send = asyncio.ensure_future(engine.send_text("15550100001", "into the void"))
        await asyncio.sleep(0.3)
        assert not send.done()
        engine.kill()
        with pytest.raises(SendInterrupted):
            await send
        assert recorder.task is not None
        await asyncio.wait_for(recorder.task, 5)


async def test_whatsapp_web_refusing_the_browser_fails_the_start(
    standin: StandinWeb, tmp_path: Path
) -> None:
    """Headless Chromium's own UA gets the "update your browser" page: start fails cleanly."""
    engine = standin.engine(user_agent="Mozilla/5.0 HeadlessChrome/156.0.0.0", load_timeout_s=2)
    profile = (tmp_path / "session" / "profile").resolve()
    with pytest.raises(EngineError, match="did not load"):
        await engine.start(tmp_path / "session")
    assert engine.phase == "stopped"
    assert not _ours(profile)
