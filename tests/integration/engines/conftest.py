"""Fixtures for the browser engine against the stand-in WhatsApp Web on 127.0.0.1.

The stand-in (tests/fixtures/whatsapp_web) is served by the `static_site`
fixture; the engine is pointed at it through its ordinary settings (`url`,
`wajs_path`), exactly as production points it at web.whatsapp.com and the
wa-js file from npm. Tests drive the stand-in's phone side through
`window.__standin` on the engine's page.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from session_runner.session.engines.browser import BrowserEngine, BrowserEngineSettings
from session_runner.session.engines.events import EngineEvent
from tests.harness.chromium import StaticSite

STANDIN = Path(__file__).resolve().parents[2] / "fixtures" / "whatsapp_web"


@dataclass
class Recorder:
    """Consumes an engine's events in the background so tests can wait for them."""

    engine: BrowserEngine
    events: list[EngineEvent] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        async def consume() -> None:
            async for event in self.engine.events():
                self.events.append(event)

        self.task = asyncio.get_running_loop().create_task(consume())

    def of(self, kind: str) -> list[Any]:
        return [event for event in self.events if event.type == kind]

    async def wait_for(self, predicate: Callable[[], Any], what: str, within: float = 15.0) -> Any:
        """Poll `predicate` until truthy; fail naming `what` (never a timing assertion)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if result := predicate():
                return result
            await asyncio.sleep(0.02)
        kinds = [event.type for event in self.events]
        raise AssertionError(f"timed out waiting for {what}; events so far: {kinds}")

    async def wait_count(self, kind: str, count: int, within: float = 15.0) -> list[Any]:
        await self.wait_for(lambda: len(self.of(kind)) >= count, f"{count}x {kind}", within)
        return self.of(kind)


@dataclass
class StandinWeb:
    """The stand-in site and how to make engines on it."""

    site: StaticSite
    chromium: Path
    wajs: Path

    def url(self, **query: object) -> str:
        params = "&".join(f"{key}={value}" for key, value in {"qr_ms": 200, **query}.items())
        return f"{self.site.url}/index.html?{params}"

    def engine(self, **options: Any) -> BrowserEngine:
        values: dict[str, Any] = {
            "url": self.url(),
            "memory_check_interval_s": 3600,
            "relaunch_backoff_s": 0.2,
            "load_timeout_s": 20,
            "send_timeout_s": 30,
        }
        values.update(options)
        return BrowserEngine(
            chromium_path=self.chromium,
            wajs_path=self.wajs,
            phone_number="+15550100000",
            options=BrowserEngineSettings(**values),
        )


@pytest.fixture
def standin(static_site: StaticSite, chromium_executable: Path) -> StandinWeb:
    for asset in STANDIN.iterdir():
        shutil.copy(asset, static_site.root / asset.name)
    return StandinWeb(
        site=static_site, chromium=chromium_executable, wajs=STANDIN / "wppconnect-wa.js"
    )


@contextlib.asynccontextmanager
async def running(engine: BrowserEngine, session_dir: Path) -> AsyncIterator[Recorder]:
    """Start `engine` with a recorder attached; stop it (or leave a killed one) afterwards."""
    recorder = Recorder(engine)
    recorder.start()
    await engine.start(session_dir)
    try:
        yield recorder
    finally:
        await engine.stop()
        if recorder.task is not None:
            await asyncio.wait_for(recorder.task, 10)


async def approve(engine: BrowserEngine) -> None:
    """The phone scans the QR."""
    assert engine.page is not None
    await engine.page.evaluate("() => window.__standin.approveLogin()")
