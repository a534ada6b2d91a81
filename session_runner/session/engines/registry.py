"""From `spec.engine` to an `Engine`: the one place that knows every engine kind.

Engines are imported lazily, inside their factory, so a runner of the local
engine never imports Playwright or neonize (and an image missing one of them
still runs the others).

The local engine also reads `WAFLEET_LOCAL_ENGINE_<OPTION>` variables (for
example `WAFLEET_LOCAL_ENGINE_AUTO_LOGIN_AFTER_S=0`,
`WAFLEET_LOCAL_ENGINE_ACTIVITY_LOG=/tmp/activity.jsonl`): the demo and the
lease fault harness configure the simulated peer of a runner subprocess that
way, without widening the operator↔runner contract in `RunnerSettings`.
Keyword options passed to `create_engine` win over the environment. The
browser and protocol engines read `WAFLEET_BROWSER_*` and `WAFLEET_PROTOCOL_*`
the same way (their pydantic-settings classes).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from session_runner.contract.settings import RunnerSettings
from session_runner.session.engines.base import Engine, EngineUnavailable

__all__ = ["LOCAL_ENV_PREFIX", "EngineUnavailable", "create_engine", "known_engines"]

LOCAL_ENV_PREFIX = "WAFLEET_LOCAL_ENGINE_"

#: The browser engine keeps Chromium's profile in this subfolder of the session dir.
BROWSER_PROFILE_DIR = "profile"


def state_dir(kind: str, session_dir: Path) -> Path:
    """Where an engine's session state lives: what snapshots capture and restores replace.

    The snapshot capture rules are written relative to it (Default/IndexedDB/…
    for Chromium), so the runner must hand the snapshot layer this folder.
    """
    return session_dir / BROWSER_PROFILE_DIR if kind == "browser" else session_dir


EngineFactory = Callable[[RunnerSettings, Mapping[str, str], dict[str, Any]], Engine]


def _knobs(
    prefix: str, environ: Mapping[str, str], options: dict[str, Any], *, blank_is_none: bool = False
) -> dict[str, Any]:
    """An engine's options: its `prefix`ed variables (lowercased, prefix dropped), then kwargs.

    `blank_is_none`: "", "none" and "null" mean None (the local engine's optional
    paths and delays, set to nothing by a harness that cannot unset a variable).
    """
    values: dict[str, Any] = {}
    for key, value in environ.items():
        if key.startswith(prefix):
            blank = blank_is_none and value.strip().lower() in ("", "none", "null")
            values[key.removeprefix(prefix).lower()] = None if blank else value
    values.update(options)
    return values


def _local(settings: RunnerSettings, environ: Mapping[str, str], options: dict[str, Any]) -> Engine:
    """LocalEngine for the account: its number, the pod as identity, env, then kwargs."""
    from session_runner.session.engines.local import LocalEngine, LocalEngineOptions

    clock = options.pop("clock", None)
    values: dict[str, Any] = {
        "phone_number": settings.phone_number,
        "identity": settings.pod_name,
        **_knobs(LOCAL_ENV_PREFIX, environ, options, blank_is_none=True),
    }
    return LocalEngine(LocalEngineOptions.model_validate(values), clock=clock)


def _browser(
    settings: RunnerSettings, environ: Mapping[str, str], options: dict[str, Any]
) -> Engine:
    """BrowserEngine: paths from RunnerSettings, knobs from `WAFLEET_BROWSER_*`, then kwargs."""
    from session_runner.session.engines.browser import (
        BROWSER_ENV_PREFIX,
        BrowserEngine,
        BrowserEngineSettings,
    )

    values = _knobs(BROWSER_ENV_PREFIX, environ, options)
    return BrowserEngine(
        chromium_path=settings.chromium_path,
        wajs_path=settings.wajs_path,
        phone_number=settings.phone_number,
        options=BrowserEngineSettings(**values),
    )


def _protocol(
    settings: RunnerSettings, environ: Mapping[str, str], options: dict[str, Any]
) -> Engine:
    """ProtocolEngine (neonize): knobs from `WAFLEET_PROTOCOL_*`, then kwargs."""
    try:
        from session_runner.session.engines.protocol import (
            PROTOCOL_ENV_PREFIX,
            ProtocolEngine,
            ProtocolEngineSettings,
        )
    except ImportError as missing:  # an image built without neonize
        raise EngineUnavailable(f"the protocol engine needs neonize: {missing}") from missing

    values = _knobs(PROTOCOL_ENV_PREFIX, environ, options)
    return ProtocolEngine(
        phone_number=settings.phone_number, options=ProtocolEngineSettings(**values)
    )


_FACTORIES: dict[str, EngineFactory] = {
    "local": _local,
    "browser": _browser,
    "protocol": _protocol,
}


def known_engines() -> tuple[str, ...]:
    """The engine kinds `create_engine` knows (available or not)."""
    return tuple(_FACTORIES)


def create_engine(
    kind: str,
    settings: RunnerSettings,
    *,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> Engine:
    """The engine named `kind` (`settings.engine` as a rule) for the account in `settings`.

    `options` are engine-specific (for "local": `LocalEngineOptions` fields and
    `clock`). Raises `EngineUnavailable` for an unknown kind or one not built
    yet, so the runner reports it as a failed session instead of crashing.
    """
    factory = _FACTORIES.get(str(kind))
    if factory is None:
        raise EngineUnavailable(f"unknown engine {kind!r}; known: {', '.join(sorted(_FACTORIES))}")
    return factory(settings, os.environ if environ is None else environ, dict(options))
