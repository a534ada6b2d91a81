"""The browser engine's parts that need no Chromium: factory, settings, JIDs, acks, tunings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from session_runner.contract.settings import Engine as EngineKind
from session_runner.contract.settings import RunnerSettings
from session_runner.procmem import pss_mb
from session_runner.session.engines.browser import BrowserEngine, BrowserEngineSettings
from session_runner.session.engines.browser_events import WA_ACKS
from session_runner.session.engines.browser_events import from_wa as _from_wa
from session_runner.session.engines.browser_events import to_wa as _to_wa
from session_runner.session.engines.chromium import (
    LOW_MEMORY_NAMES,
    LOW_MEMORY_TUNINGS,
    PLAYWRIGHT_DISABLED_FEATURES,
    driver_node_options,
    select_tunings,
    tuning_args,
    tuning_node_options,
)
from session_runner.session.engines.events import AckStatus
from session_runner.session.engines.registry import create_engine


def test_registry_makes_a_browser_engine_with_env_knobs(tmp_path: Path) -> None:
    settings = RunnerSettings(
        account_name="sales",
        phone_number="+4915112345678",
        engine=EngineKind.BROWSER,
        chromium_path=tmp_path / "chromium",
        wajs_path=tmp_path / "wa.js",
    )
    environ = {
        "WAFLEET_BROWSER_URL": "http://127.0.0.1:1/",
        "WAFLEET_BROWSER_MEMORY_CEILING_MB": "500",
    }
    engine = create_engine("browser", settings, environ=environ, send_timeout_s=9)
    assert isinstance(engine, BrowserEngine)
    assert engine.options.url == "http://127.0.0.1:1/"
    assert engine.options.memory_ceiling_mb == 500
    assert engine.options.send_timeout_s == 9
    assert not engine.ready


def test_jids_between_whatsapp_web_and_the_interface() -> None:
    assert _to_wa("15550100@s.whatsapp.net") == "15550100@c.us"
    assert _to_wa("123-456@g.us") == "123-456@g.us"
    assert _from_wa("15550100@c.us") == "15550100@s.whatsapp.net"
    assert _from_wa("123-456@g.us") == "123-456@g.us"


def test_ack_numbers() -> None:
    assert WA_ACKS == {
        -1: AckStatus.FAILED,
        1: AckStatus.SENT,
        2: AckStatus.DELIVERED,
        3: AckStatus.READ,
        4: AckStatus.PLAYED,
    }
    assert 0 not in WA_ACKS  # the clock: not acknowledged yet


def test_pss_of_this_process_is_counted() -> None:
    assert pss_mb([os.getpid()]) > 1
    assert pss_mb([2**22 + 7]) == 0


def test_tunings_merge_into_one_feature_switch_that_keeps_playwrights() -> None:
    args = tuning_args(select_tunings(["omnibox_webui", "spare_renderer", "no_swiftshader"]))
    [disable] = [arg for arg in args if arg.startswith("--disable-features=")]
    features = disable.removeprefix("--disable-features=").split(",")
    assert features[: len(PLAYWRIGHT_DISABLED_FEATURES)] == list(PLAYWRIGHT_DISABLED_FEATURES)
    assert {"WebUIOmniboxPopup", "SpareRendererForSitePerProcess"} <= set(features)
    assert "--disable-software-rasterizer" in args
    assert not any(arg.startswith("--enable-features=") for arg in args)  # none asked for
    assert tuning_args(()) == ()  # no tuning: Playwright's own switches stay untouched
    assert tuning_node_options(select_tunings(["driver_jitless", "omnibox_webui"])) == "--jitless"


def test_tunings_are_named_and_all_on_by_default() -> None:
    assert BrowserEngineSettings().memory_tunings == LOW_MEMORY_NAMES
    assert [t.name for t in select_tunings(reversed(LOW_MEMORY_NAMES))] == list(LOW_MEMORY_NAMES)
    assert all(tuning.reason for tuning in LOW_MEMORY_TUNINGS)
    with pytest.raises(ValueError, match="unknown memory tunings"):
        select_tunings(["omnibox_webui", "turbo"])


def test_tuning_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAFLEET_BROWSER_MEMORY_TUNINGS", "omnibox_webui, driver_jitless")
    monkeypatch.setenv("WAFLEET_BROWSER_CHROMIUM_ARGS", "--window-size=800,600 --mute-audio")
    settings = BrowserEngineSettings()
    assert settings.memory_tunings == ("omnibox_webui", "driver_jitless")
    assert settings.chromium_args == ("--window-size=800,600", "--mute-audio")
    # the registry passes the same strings as keyword arguments
    assert BrowserEngineSettings(memory_tunings="").memory_tunings == ()
    assert BrowserEngineSettings(memory_tunings='["spare_renderer"]').memory_tunings == (
        "spare_renderer",
    )
    with pytest.raises(ValueError, match="unknown memory tunings"):
        BrowserEngineSettings(memory_tunings="omnibox")


def test_driver_node_options_are_set_only_while_the_driver_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NODE_OPTIONS", raising=False)
    with driver_node_options("--jitless"):
        assert os.environ["NODE_OPTIONS"] == "--jitless"
        with driver_node_options("--jitless"):  # a second engine starting meanwhile
            assert os.environ["NODE_OPTIONS"] == "--jitless"
        assert os.environ["NODE_OPTIONS"] == "--jitless"
    assert "NODE_OPTIONS" not in os.environ

    monkeypatch.setenv("NODE_OPTIONS", "--stack-trace-limit=5")
    with driver_node_options("--jitless"):
        assert os.environ["NODE_OPTIONS"] == "--stack-trace-limit=5 --jitless"
    assert os.environ["NODE_OPTIONS"] == "--stack-trace-limit=5"
    with driver_node_options(""):
        assert os.environ["NODE_OPTIONS"] == "--stack-trace-limit=5"
