"""Debian's Chromium, driven by Playwright, opens a page served on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, async_playwright

from session_runner.session.engines.chromium import launch_kwargs
from tests.harness.chromium import StaticSite

PAGE = """<!doctype html>
<html><body><p id="greeting">waiting</p>
<script>document.getElementById('greeting').textContent = 'hello ' + (6 * 7);</script>
</body></html>"""


async def test_page_runs_script_in_real_chromium(
    chromium_browser: Browser, static_site: StaticSite
) -> None:
    url = static_site.write("index.html", PAGE)
    page = await chromium_browser.new_page()
    response = await page.goto(url)
    assert response is not None
    assert response.status == 200
    assert await page.text_content("#greeting") == "hello 42"
    assert "Chrome/" in await page.evaluate("navigator.userAgent")


async def test_persistent_profile_keeps_local_storage(
    chromium_executable: Path, static_site: StaticSite, tmp_path: Path
) -> None:
    """The browser engine's session lives in a profile folder; it must survive a relaunch."""
    url = static_site.write("index.html", PAGE)
    profile = tmp_path / "profile"
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile), **launch_kwargs(chromium_executable)
        )
        page = await context.new_page()
        await page.goto(url)
        await page.evaluate("localStorage.setItem('session', 'kept')")
        await context.close()

        context = await pw.chromium.launch_persistent_context(
            str(profile), **launch_kwargs(chromium_executable)
        )
        page = await context.new_page()
        await page.goto(url)
        assert await page.evaluate("localStorage.getItem('session')") == "kept"
        await context.close()
    assert (profile / "Default" / "Local Storage" / "leveldb").is_dir()
