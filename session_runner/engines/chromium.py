"""How wafleet launches the system's Chromium through Playwright.

Playwright's own browser downloads are never used: the runner image ships
Debian's `chromium`, and Playwright drives it through `executable_path`.
"""

from __future__ import annotations

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


def launch_kwargs(
    executable_path: Path = DEFAULT_CHROMIUM_PATH, headless: bool = True
) -> dict[str, Any]:
    """Keyword arguments for `chromium.launch(...)` / `launch_persistent_context(...)`."""
    return {
        "executable_path": str(executable_path),
        "headless": headless,
        "args": list(CLOSED_NETWORK_ARGS),
    }
