"""create_engine: `spec.engine` to an engine, with the local engine's env options."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_runner.contract.settings import Engine as EngineKind
from session_runner.contract.settings import RunnerSettings
from session_runner.session.engines.local import LocalEngine
from session_runner.session.engines.registry import EngineUnavailable, create_engine, known_engines
from tests.unit.engines.clock import VirtualClock


@pytest.fixture
def settings(tmp_path: Path) -> RunnerSettings:
    return RunnerSettings(
        account_name="sales",
        phone_number="+4915112345678",
        lease_name="sales",
        pod_name="sales-0",
        engine=EngineKind.LOCAL,
        session_dir=tmp_path / "session",
    )


def test_local_engine_for_the_account(settings: RunnerSettings) -> None:
    engine = create_engine(settings.engine, settings, environ={})

    assert isinstance(engine, LocalEngine)
    assert engine.options.phone_number == "+4915112345678"
    assert engine.options.identity == "sales-0"


def test_environment_then_keywords(settings: RunnerSettings, tmp_path: Path) -> None:
    environ = {
        "WAFLEET_LOCAL_ENGINE_AUTO_LOGIN_AFTER_S": "0",
        "WAFLEET_LOCAL_ENGINE_ACTIVITY_LOG": str(tmp_path / "a.jsonl"),
        "WAFLEET_LOCAL_ENGINE_QUOTA_AFTER_N": "none",
        "WAFLEET_LOCAL_ENGINE_SEED": "3",
        "WAFLEET_OTHER": "ignored",
    }
    clock = VirtualClock()

    engine = create_engine("local", settings, environ=environ, seed=9, clock=clock)

    assert isinstance(engine, LocalEngine)
    assert engine.options.auto_login_after_s == 0
    assert engine.options.activity_log == tmp_path / "a.jsonl"
    assert engine.options.quota_after_n is None
    assert engine.options.seed == 9


def test_a_misspelt_option_is_an_error(settings: RunnerSettings) -> None:
    with pytest.raises(ValueError, match="qr_rotate"):
        create_engine("local", settings, environ={"WAFLEET_LOCAL_ENGINE_QR_ROTATE": "5"})


def test_protocol_engine_with_its_environment(settings: RunnerSettings) -> None:
    from session_runner.session.engines.protocol import ProtocolEngine

    environ = {"WAFLEET_PROTOCOL_RECONNECT_BACKOFF_S": "0.5", "WAFLEET_OTHER": "ignored"}

    engine = create_engine("protocol", settings, environ=environ, send_timeout_s=7)

    assert isinstance(engine, ProtocolEngine)
    assert engine.name == "protocol"
    assert engine.options.reconnect_backoff_s == 0.5
    assert engine.options.send_timeout_s == 7


def test_unknown_engine(settings: RunnerSettings) -> None:
    with pytest.raises(EngineUnavailable, match="known: browser, local, protocol"):
        create_engine("carrier-pigeon", settings, environ={})
    assert set(known_engines()) == {kind.value for kind in EngineKind}


def test_snapshots_capture_the_browser_profile_folder(tmp_path: Path) -> None:
    """The runner hands the snapshot layer `state_dir`: for the browser engine, the profile
    Chromium really uses — from the bare session dir the capture rules would match nothing."""
    from session_runner.session.engines.registry import state_dir
    from session_runner.session.snapshot.staging import select_files

    table = (
        tmp_path / "profile/Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb/000005.ldb"
    )
    table.parent.mkdir(parents=True)
    table.write_bytes(b"x" * 100)
    assert state_dir("browser", tmp_path) == tmp_path / "profile"
    assert [e.path for e in select_files(state_dir("browser", tmp_path), "browser")] == [
        "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb/000005.ldb"
    ]
    assert select_files(tmp_path, "browser") == []
    assert state_dir("protocol", tmp_path) == tmp_path
