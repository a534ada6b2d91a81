"""pytest fixtures for the browser: Debian's Chromium driven by Playwright.

Pages are served from a temporary folder on 127.0.0.1, standing in for the web
pages the browser engine will load; nothing leaves the machine.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright

from session_runner.session.engines.chromium import DEFAULT_CHROMIUM_PATH, launch_kwargs


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output readable: no access log."""


@dataclass(frozen=True)
class StaticSite:
    """A folder served over HTTP on 127.0.0.1."""

    root: Path
    url: str

    def write(self, relative: str, content: str) -> str:
        """Write a file under the site root and return its URL."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        return f"{self.url}/{relative}"


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    """Debian's chromium; `make test` installs it. Missing in CI is a failure, not a skip."""
    path = Path(os.environ.get("WAFLEET_CHROMIUM_PATH", str(DEFAULT_CHROMIUM_PATH)))
    if not path.exists():
        message = f"{path} not found: `make chromium` installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def static_site(tmp_path: Path) -> Iterator[StaticSite]:
    root = tmp_path / "site"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="static-site", daemon=True)
    thread.start()
    try:
        yield StaticSite(root=root, url=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
async def chromium_browser(chromium_executable: Path) -> AsyncIterator[Browser]:
    """A running Debian Chromium under Playwright, launched as the engine launches it, closed after."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch_kwargs(chromium_executable))
        try:
            yield browser
        finally:
            await browser.close()
