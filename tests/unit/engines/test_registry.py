"""create_engine: `spec.engine` to an engine, with the local engine's env options."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_runner.engines.local import LocalEngine, VirtualClock
from session_runner.engines.registry import EngineUnavailable, create_engine, known_engines
from session_runner.settings import Engine as EngineKind
from session_runner.settings import RunnerSettings


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


@pytest.mark.parametrize("kind", ["protocol"])
def test_real_engines_are_not_here_yet(settings: RunnerSettings, kind: str) -> None:
    with pytest.raises(EngineUnavailable, match="issue 7"):
        create_engine(kind, settings, environ={})


def test_unknown_engine(settings: RunnerSettings) -> None:
    with pytest.raises(EngineUnavailable, match="known: browser, local, protocol"):
        create_engine("carrier-pigeon", settings, environ={})
    assert set(known_engines()) == {kind.value for kind in EngineKind}
