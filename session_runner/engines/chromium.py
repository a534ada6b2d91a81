"""How wafleet launches the system's Chromium through Playwright.

Playwright's own browser downloads are never used: the runner image ships
Debian's `chromium`, and Playwright drives it through `executable_path`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

DEFAULT_CHROMIUM_PATH = Path("/usr/bin/chromium")

#: Without these, Chromium keeps dialling Google services (component updates,
#: sync, QUIC probes) that a closed cluster network refuses, which slows start-up
#: and fills logs. `--no-sandbox` because the runner is already confined by its
#: pod's security context and user namespaces are unavailable in most pods.
CLOSED_NETWORK_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)

#: Placeholder until measured.
LOW_MEMORY_ARGS: tuple[str, ...] = ()

#: Placeholder until measured.
DRIVER_NODE_OPTIONS = ""


def launch_kwargs(
    executable_path: Path = DEFAULT_CHROMIUM_PATH,
    headless: bool = True,
    extra_args: Sequence[str] = (),
) -> dict[str, Any]:
    """Keyword arguments for `chromium.launch(...)` / `launch_persistent_context(...)`.

    `extra_args` come after the closed-network flags (the browser engine passes
    its `chromium_args` setting, by default `LOW_MEMORY_ARGS`).
    """
    return {
        "executable_path": str(executable_path),
        "headless": headless,
        "args": [*CLOSED_NETWORK_ARGS, *extra_args],
    }


_driver_env_users = 0
_driver_env_saved: str | None = None


@contextlib.contextmanager
def driver_node_options(options: str) -> Iterator[None]:
    """NODE_OPTIONS for the Playwright driver started inside this block.

    playwright-python spawns its node driver with a copy of `os.environ` taken
    when the driver starts, and offers no other way to pass it options, so the
    variable is set for the duration of `async_playwright().start()` and put
    back afterwards. Nested or concurrent blocks (two engines starting on one
    loop) share one setting; the last to leave restores the original value.
    """
    global _driver_env_users, _driver_env_saved
    if not options:
        yield
        return
    if _driver_env_users == 0:
        _driver_env_saved = os.environ.get("NODE_OPTIONS")
    _driver_env_users += 1
    os.environ["NODE_OPTIONS"] = " ".join(filter(None, (_driver_env_saved, options)))
    try:
        yield
    finally:
        _driver_env_users -= 1
        if _driver_env_users == 0:
            if _driver_env_saved is None:
                os.environ.pop("NODE_OPTIONS", None)
            else:
                os.environ["NODE_OPTIONS"] = _driver_env_saved
