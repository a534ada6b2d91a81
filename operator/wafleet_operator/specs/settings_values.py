"""Settings objects built from explicit values only, never from the operator's environment.

The operator's own environment shares the ``WAFLEET_`` prefix with the
settings it renders for its pods (``WAFLEET_NAMESPACE`` is its list of
watched namespaces, ``WAFLEET_METRICS_PORT`` its own port), and
pydantic-settings reads the environment even in ``model_validate``; a builder
must depend on its arguments alone. So the values are validated (defaults
filled in) by a subclass that reads no source but its arguments, and the
result is passed back to the real class with every field explicit, which no
environment variable can override.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

S = TypeVar("S", bound=BaseSettings)


@functools.cache
def _init_only(settings_cls: type[BaseSettings]) -> type[BaseSettings]:
    class InitOnly(settings_cls):  # type: ignore[valid-type,misc]
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings,)

    InitOnly.__name__ = f"InitOnly{settings_cls.__name__}"
    return InitOnly


def without_environment(settings_cls: type[S], values: dict[str, Any]) -> S:
    """A `settings_cls` from `values` and the class defaults only."""
    complete = _init_only(settings_cls)(**values).model_dump()
    return settings_cls(**complete)
