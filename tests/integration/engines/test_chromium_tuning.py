"""The memory tunings take effect in the real Chromium and driver, and break nothing they touch.

What they save is measured by `make bench ONLY=engines`; these tests check the
mechanism: the features really are off (Chromium keeps only the last
--disable-features, so Playwright's own list must survive ours), the processes
they remove are gone, the node driver got its options without leaking them
into the runner's environment, and the page can still draw a 2D canvas
(WhatsApp Web's QR code) without SwiftShader.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

from session_runner.session.engines.browser import BrowserEngine, process_group_pids
from session_runner.session.engines.chromium import (
    LOW_MEMORY_ARGS,
    LOW_MEMORY_TUNINGS,
    launch_kwargs,
)
from tests.integration.engines.conftest import StandinWeb, approve, running

pytestmark = pytest.mark.chromium


async def command_line_variations(chromium: Path, args: tuple[str, ...]) -> dict[str, set[str]]:
    """The feature overrides Chromium actually applied, as chrome://version reports them."""
    async with async_playwright() as pw:
        with tempfile.TemporaryDirectory() as profile:
            context = await pw.chromium.launch_persistent_context(
                profile, **launch_kwargs(chromium, True, args)
            )
            try:
                page = context.pages[0]
                await page.goto("chrome://version")
                encoded = await page.get_attribute("#variations-cmd", "data-value")
            finally:
                await context.close()
    assert encoded, "chrome://version shows no command-line variations"
    decoded: dict[str, Any] = json.loads(base64.b64decode(encoded + "=" * (-len(encoded) % 4)))
    return {
        key: set(filter(None, str(decoded.get(key, "")).split(",")))
        for key in ("disable-features", "enable-features")
    }


async def test_tunings_keep_playwrights_own_feature_switches(chromium_executable: Path) -> None:
    default = await command_line_variations(chromium_executable, ())
    tuned = await command_line_variations(chromium_executable, LOW_MEMORY_ARGS)

    assert "MediaRouter" in default["disable-features"]  # Playwright's list is what we read
    assert default["disable-features"] <= tuned["disable-features"]
    assert default["enable-features"] <= tuned["enable-features"]
    for tuning in LOW_MEMORY_TUNINGS:
        assert set(tuning.disable_features) <= tuned["disable-features"], tuning.name
        assert set(tuning.enable_features) <= tuned["enable-features"], tuning.name


def chromium_processes(engine: BrowserEngine) -> list[str]:
    """Command lines of the processes in Chromium's process group."""
    assert engine.chromium_pid is not None
    lines = []
    for pid in process_group_pids(engine.chromium_pid):
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return lines


def kinds(lines: list[str]) -> list[str]:
    """Process kinds: browser, renderer, zygote, gpu-process, utility:<service>, webui renderer."""
    found = []
    for line in lines:
        kind = re.search(r"--type=(\S+)", line)
        service = re.search(r"--utility-sub-type=(\S+)", line)
        if kind is None:
            found.append("browser")
        elif "--top-chrome-webui" in line:
            found.append("webui-renderer")
        elif service is not None:
            found.append(f"utility:{service.group(1)}")
        else:
            found.append(kind.group(1))
    return sorted(found)


async def test_tuned_chromium_runs_without_the_processes_it_does_not_need(
    standin: StandinWeb, tmp_path: Path
) -> None:
    tuned = standin.engine()
    async with running(tuned, tmp_path / "tuned") as recorder:
        await approve(tuned)
        await recorder.wait_for(lambda: tuned.ready, "ready")
        tuned_kinds = kinds(chromium_processes(tuned))
    plain = standin.engine(memory_tunings=())
    async with running(plain, tmp_path / "plain") as recorder:
        await approve(plain)
        await recorder.wait_for(lambda: plain.ready, "ready")
        plain_kinds = kinds(chromium_processes(plain))

    # Chromium's defaults: the omnibox popup's WebUI page preloaded, a network
    # service process, a spare renderer beside the page's.
    assert "webui-renderer" in plain_kinds
    assert "utility:network.mojom.NetworkService" in plain_kinds
    assert plain_kinds.count("renderer") >= 2
    # Tuned: one renderer (the page's), the network service inside the browser.
    assert "webui-renderer" not in tuned_kinds
    assert "utility:network.mojom.NetworkService" not in tuned_kinds
    assert tuned_kinds.count("renderer") == 1
    assert len(tuned_kinds) < len(plain_kinds)


def environ_of(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(pair.decode().split("=", 1) for pair in pairs if b"=" in pair)


async def test_the_driver_gets_its_node_options_and_the_runner_keeps_its_environment(
    standin: StandinWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NODE_OPTIONS", "--stack-trace-limit=20")  # an operator's own setting
    engine = standin.engine()
    async with running(engine, tmp_path / "session"):
        assert engine.driver_pid is not None
        driver_options = environ_of(engine.driver_pid)["NODE_OPTIONS"].split()
        assert os.environ["NODE_OPTIONS"] == "--stack-trace-limit=20"
    assert driver_options[0] == "--stack-trace-limit=20"
    for tuning in LOW_MEMORY_TUNINGS:
        assert set(tuning.node_options) <= set(driver_options), tuning.name

    monkeypatch.delenv("NODE_OPTIONS")
    plain = standin.engine(memory_tunings=())
    async with running(plain, tmp_path / "plain"):
        assert plain.driver_pid is not None
        assert "NODE_OPTIONS" not in environ_of(plain.driver_pid)
    assert "NODE_OPTIONS" not in os.environ


async def test_the_page_still_draws_a_2d_canvas(standin: StandinWeb, tmp_path: Path) -> None:
    """WhatsApp Web draws its QR on a <canvas>; without SwiftShader that is Skia in the renderer."""
    engine = standin.engine()
    async with running(engine, tmp_path / "session"):
        assert engine.page is not None
        pixel = await engine.page.evaluate(
            """() => {
              const canvas = document.createElement('canvas');
              canvas.width = canvas.height = 64;
              const context = canvas.getContext('2d');
              context.fillStyle = '#000';
              context.fillRect(0, 0, 64, 64);
              context.fillStyle = 'rgb(255, 0, 0)';
              context.fillRect(8, 8, 16, 16);
              return Array.from(context.getImageData(10, 10, 1, 1).data);
            }"""
        )
    assert pixel == [255, 0, 0, 255]
