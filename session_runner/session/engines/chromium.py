"""How wafleet launches the system's Chromium through Playwright.

Playwright's own browser downloads are never used: the runner image ships
Debian's `chromium`, and Playwright drives it through `executable_path`.

Memory: one idle account with Playwright's and Chromium's defaults is ~544 MB
PSS (Chromium ~390 MB over 9 processes, Playwright's node driver ~124 MB, the
Python runner ~31 MB). `LOW_MEMORY_TUNINGS` are the changes that measurably
cut that: to ~436 MB (Chromium ~304 MB over 6 processes, driver ~101 MB),
`make bench ONLY=engines`, which also reports what each one saves. The browser
engine applies all of them unless its `memory_tunings` setting says otherwise.

Tried and left out, measured the same way (idle account, stand-in page):

- `--renderer-process-limit=1`, `--disable-site-isolation-trials`,
  `--process-per-site`: they only removed the spare renderer, which
  `spare_renderer` already does; nothing more on one page.
- `--in-process-gpu`: nothing once `no_swiftshader` is on, and a GPU-process
  crash would then take the browser down with it.
- `--no-zygote`: +11 MB (+44 MB on defaults): children exec afresh instead of
  sharing the zygote's pre-initialised pages.
- `--single-process`: -11 MB only, and Chromium does not support it: a
  renderer crash takes the whole browser down with it. Not run against the
  crash-recovery tests; not worth 11 MB.
- A smaller window (`--window-size=800,600`), more `--disable-features`
  (Translate, MediaRouter's siblings, autofill, FedCM ...), and flags Playwright
  already passes (`--disable-extensions`, `--disable-dev-shm-usage`,
  `--disable-background-networking`): no measurable change.
- `--js-flags=--max-old-space-size=N` (or `--max-semi-space-size`): a
  ceiling, not a reservation, so it saved nothing on an idle page (measured
  with 256 MB), and WhatsApp Web on a big account needs
  several hundred MB of heap: a cap below that makes V8 kill the renderer
  with an out-of-memory crash instead of letting the engine's memory ceiling
  restart Chromium cleanly. Not set.
- Never `--disable-backgrounding-*` / timer-throttling changes of our own:
  Playwright already keeps the page un-throttled, which WhatsApp Web's
  keep-alives need.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
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

#: The features Playwright (1.65) itself passes in `--disable-features` /
#: `--enable-features`. Chromium keeps only the LAST of repeated switches, so a
#: tuning that disables or enables a feature must repeat Playwright's lists or
#: it would silently re-enable what Playwright turned off (a test compares them
#: with what a default launch reports in chrome://version).
PLAYWRIGHT_DISABLED_FEATURES: tuple[str, ...] = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "msForceBrowserSignIn",
    "msEdgeUpdateLaunchServicesPreferredVersion",
)
PLAYWRIGHT_ENABLED_FEATURES: tuple[str, ...] = (
    "CDPScreenshotNewSurface",
    "SkipListAccountsWithoutGaiaCookies",
)


@dataclass(frozen=True)
class MemoryTuning:
    """One memory-saving change: Chromium features/flags and/or node options for the driver."""

    name: str
    reason: str
    disable_features: tuple[str, ...] = ()
    enable_features: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    node_options: tuple[str, ...] = ()


#: "Saves" is the PSS of an idle, logged-in account without that one tuning
#: minus the same with every tuning (medians of 3, `make bench ONLY=engines`,
#: Chromium 156, playwright 1.65.2 with its node 26; 2026-11-23). All together
#: save ~108 MB (543.6 -> 435.9 MB, medians of 5).
LOW_MEMORY_TUNINGS: tuple[MemoryTuning, ...] = (
    # Saves 49 MB, one renderer: new headless runs the full browser UI and
    # preloads the omnibox popup's WebUI page (chrome://omnibox-popup.top-chrome)
    # in a renderer of its own; a headless session never opens an omnibox.
    MemoryTuning(
        "omnibox_webui",
        "no preloaded omnibox-popup WebUI renderer (nobody types in a headless omnibox)",
        disable_features=("WebUIOmniboxPopup", "WebUIOmniboxAimPopup"),
    ),
    # Saves 7 MB, one renderer: a spare renderer kept warm for the next
    # navigation to another site; the session only ever shows WhatsApp Web.
    MemoryTuning(
        "spare_renderer",
        "no spare renderer waiting for a navigation to another site that never comes",
        disable_features=("SpareRendererForSitePerProcess",),
    ),
    # Saves 17 MB, one process: the network service runs as a thread of the
    # browser process. Its crash then ends the browser, which the engine
    # relaunches anyway.
    MemoryTuning(
        "network_in_process",
        "network service as a browser thread, not a utility process of its own",
        enable_features=("NetworkServiceInProcess2",),
    ),
    # Saves 12 MB in the GPU process: with --disable-gpu it would initialise
    # SwiftShader (software GL for WebGL); WhatsApp Web needs no WebGL, and 2D
    # canvas (its QR code) is still drawn by Skia in the renderer.
    MemoryTuning(
        "no_swiftshader",
        "no SwiftShader software GL in the GPU process (no WebGL needed; 2D canvas unaffected)",
        args=("--disable-software-rasterizer",),
    ),
    # Saves 10 MB in the node driver: 1 MB young-generation semi-spaces instead
    # of V8's default (16 MB on 64-bit); the driver only relays small messages.
    MemoryTuning(
        "driver_semi_space",
        "1 MB young-generation semi-spaces for Playwright's node driver",
        node_options=("--max-semi-space-size=1",),
    ),
    # Saves 6 MB in the node driver (11 MB on its own): no JIT code space or
    # compiler; the driver is I/O-bound (it relays messages), so interpreting
    # its JS costs little (cold start did not get slower, see the bench). It
    # also turns off WebAssembly in the driver, which Playwright uses only for
    # its own WebP encoder (screencasts, image comparison in its test runner);
    # page screenshots are encoded by Chromium and still work (PNG and WebP tried).
    MemoryTuning(
        "driver_jitless",
        "Playwright's node driver without a JIT (it only relays messages)",
        node_options=("--jitless",),
    ),
)

#: Names of `LOW_MEMORY_TUNINGS`, the browser engine's default `memory_tunings`.
LOW_MEMORY_NAMES: tuple[str, ...] = tuple(tuning.name for tuning in LOW_MEMORY_TUNINGS)


def select_tunings(names: Iterable[str]) -> tuple[MemoryTuning, ...]:
    """The tunings named, in `LOW_MEMORY_TUNINGS` order; an unknown name is a `ValueError`."""
    wanted = set(names)
    if unknown := wanted - set(LOW_MEMORY_NAMES):
        raise ValueError(f"unknown memory tunings {sorted(unknown)}; known: {LOW_MEMORY_NAMES}")
    return tuple(tuning for tuning in LOW_MEMORY_TUNINGS if tuning.name in wanted)


def tuning_args(tunings: Sequence[MemoryTuning]) -> tuple[str, ...]:
    """Chromium flags of `tunings`, with feature lists merged into one switch each."""
    args: list[str] = []
    disable = [feature for tuning in tunings for feature in tuning.disable_features]
    enable = [feature for tuning in tunings for feature in tuning.enable_features]
    if disable:
        args.append("--disable-features=" + ",".join((*PLAYWRIGHT_DISABLED_FEATURES, *disable)))
    if enable:
        args.append("--enable-features=" + ",".join((*PLAYWRIGHT_ENABLED_FEATURES, *enable)))
    args.extend(arg for tuning in tunings for arg in tuning.args)
    return tuple(args)


def tuning_node_options(tunings: Sequence[MemoryTuning]) -> str:
    """NODE_OPTIONS for Playwright's driver from `tunings` ('' when none)."""
    return " ".join(option for tuning in tunings for option in tuning.node_options)


#: All tunings as Chromium flags / driver NODE_OPTIONS.
LOW_MEMORY_ARGS: tuple[str, ...] = tuning_args(LOW_MEMORY_TUNINGS)
DRIVER_NODE_OPTIONS: str = tuning_node_options(LOW_MEMORY_TUNINGS)


def launch_kwargs(
    executable_path: Path = DEFAULT_CHROMIUM_PATH,
    headless: bool = True,
    extra_args: Sequence[str] = (),
) -> dict[str, Any]:
    """Keyword arguments for `chromium.launch(...)` / `launch_persistent_context(...)`.

    `extra_args` come after the closed-network flags (the browser engine passes
    its memory tunings' flags, then its `chromium_args` setting).
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
    """NODE_OPTIONS for a Playwright driver started inside this block.

    playwright-python spawns its node driver with a copy of `os.environ` taken
    as the driver starts and has no other way to pass node options, so the
    variable is set for the duration of `async_playwright().start()` and put
    back afterwards. Overlapping blocks (two engines starting on one loop)
    each set their options; the last one to leave restores the original value.
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
