"""BrowserEngine: WhatsApp Web in the system's Chromium, driven through wa-js.

Why a browser at all: WhatsApp Web is the client WhatsApp itself ships for
linked devices, so an account driven through it looks like any other desktop
session. @wppconnect/wa-js (a file injected into the page) exposes WhatsApp
Web's own modules as `WPP`: `WPP.chat.*` sends, `WPP.on(...)` listens.

How it runs (one instance per account, started once):

- Playwright's driver (a node subprocess) launches Chromium with
  `launch_persistent_context(session_dir / "profile")` and the closed-network
  flags of `chromium.launch_kwargs`: the profile IS the session (IndexedDB
  keys, localStorage), which is what snapshots copy and restores bring back.
  The `memory_tunings` setting (all of `chromium.LOW_MEMORY_TUNINGS` by
  default) adds the Chromium flags and driver NODE_OPTIONS that cut an idle
  account from ~544 to ~436 MB PSS; `make bench ONLY=engines` measures each.
- On every load of the WhatsApp Web document (`page.on("load")`, also after the
  reload WhatsApp Web does on logout) the wa-js file is injected and
  `browser_bridge.js` is evaluated: it waits for `WPP.isReady` /
  `WPP.webpack.onReady`, subscribes to the WPP events and forwards them as JSON
  through ONE binding (`context.expose_binding`). `browser_events.py` maps
  each payload to engine events (a pure, table-tested function, its table in
  the module docstring); the shared core (`core.py`) keeps readiness, ack
  order and the conflict fence (CONFLICT: Conflict + Disconnected, never ready
  again, no relaunch). WhatsApp's refusals come back from the send scripts as
  data (the JS error's `code`/`status`), read by `errors.py`, never parsed out
  of a message.

- Two things WhatsApp Web needs from the browser: a desktop Chrome user agent
  (headless Chromium says `HeadlessChrome` and gets an "update your browser"
  page; `chrome_user_agent` builds one from the installed version) and
  `bypass_csp` (its Content-Security-Policy forbids the inline <script> that
  carries wa-js). The stand-in page in the tests enforces both.
- Crash recovery: the context's "close" event (Chromium died) or the page's
  "crash" event, when we did not cause it, emits `Disconnected` and relaunches
  on the same profile with exponential backoff (`core.Backoff`); the engine is not ready
  meanwhile. Every launch has a generation number and callbacks of an older
  generation are ignored, so our own closes (quiesce, memory restarts, stop)
  never look like crashes.
- Memory ceiling: every `memory_check_interval_s` the PSS of every process in
  Chromium's process group is summed (/proc/<pid>/smaps_rollup, in a worker
  thread); over `memory_ceiling_mb` the browser is restarted (Disconnected →
  relaunch). WhatsApp Web grows for days; a restart on the same profile is a
  few seconds of downtime and no login.
- kill(): Playwright spawns Chromium detached (its own process group, Chromium's
  main process the leader). At launch we find that main process by scanning
  /proc for the process whose argv has `--user-data-dir=<our profile>` and no
  `--type=` (renderers, zygote and GPU processes have `--type`); its parent is
  Playwright's node driver. kill() SIGKILLs Chromium's process group
  synchronously (looking the pid up then if a launch was under way) and closes
  the event stream: no await, nothing more reaches WhatsApp or the profile. The
  driver (which talks only to Chromium and to us) is then told to exit by a
  background task closing its pipe, and SIGKILLed if it does not within 5 s.
- Pairing-code login (`request_pairing_code`): instead of scanning the QR,
  `WPP.conn.genLinkDeviceCodeForPhoneNumber(digits)` asks WhatsApp for an
  8-character code (emitted as `PairingCode`); WhatsApp Web stops showing a QR
  and the phone owner types the code, after which login proceeds as above.
- Media (`send_media`): the file never passes through Python or the driver.
  The engine checks size, MIME type (allow-list plus a magic-byte sniff) and
  sha256 in a worker thread (`media.check_media`, the one check of all engines), then hands Chromium the *path*
  (`ElementHandle.set_input_files` on a detached `<input type=file>`: for a
  local browser Playwright sends only the path and Chromium makes a disk-backed
  File), and the page passes that File to `WPP.chat.sendFileMessage`. Nothing
  base64-encodes a file on the event loop, which is what stalled
  whatsapp-web.js for minutes on big files.

Settings beyond `RunnerSettings` (chromium_path, wajs_path, session_dir) come
from `BrowserEngineSettings`, environment prefix `WAFLEET_BROWSER_`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Coroutine
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from playwright.async_api import BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from session_runner.procmem import pss_mb
from session_runner.session.engines.base import (
    Engine,
    EngineError,
    EngineStopped,
    NotReady,
    SendInterrupted,
    SendRejected,
    normalize_jid,
)
from session_runner.session.engines.browser_events import (
    map_bridge_payload,
    map_bridge_state,
    to_wa,
)
from session_runner.session.engines.chromium import (
    DEFAULT_CHROMIUM_PATH,
    LOW_MEMORY_NAMES,
    driver_node_options,
    launch_kwargs,
    select_tunings,
    tuning_args,
    tuning_node_options,
)
from session_runner.session.engines.core import Backoff, EngineCore, Phase
from session_runner.session.engines.errors import js_error_code, quota_code
from session_runner.session.engines.events import (
    Conflict,
    EngineEvent,
    MediaRef,
    PairingCode,
    QuotaSignal,
)
from session_runner.session.engines.media import check_declared, check_media
from session_runner.session.engines.registry import BROWSER_PROFILE_DIR

__all__ = ["BINDING", "BROWSER_ENV_PREFIX", "BrowserEngine", "BrowserEngineSettings"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Environment prefix of `BrowserEngineSettings`.
BROWSER_ENV_PREFIX = "WAFLEET_BROWSER_"
#: The one function the page calls to hand an event to Python.
BINDING = "__wafleetEmit"
#: The profile folder inside the session dir.
PROFILE_DIR = BROWSER_PROFILE_DIR  # one name for the engine and the snapshot layer

#: How the send scripts report WhatsApp's refusal: as data, the JS error's own
#: fields (`code`, `status`), so Python never reads a code out of a message.
_REFUSAL_JS = """(error) => ({ error: {
    code: error && error.code != null ? String(error.code) : null,
    status: error && error.status != null ? String(error.status) : null,
    message: String((error && error.message) || error),
  } })"""

_SEND_FILE_JS = """
async ([input, o]) => {
  const picked = input.files && input.files[0];
  input.remove();
  if (!picked) throw new Error('no file reached the page');
  const file = new File([picked], o.filename, { type: o.mimetype });
  try {
    const result = await WPP.chat.sendFileMessage(o.to, file, {
      type: 'auto-detect',
      caption: o.caption ?? undefined,
      filename: o.filename,
      mimetype: o.mimetype,
      createChat: true,
    });
    return { id: String(result.id), ack: Number(result.ack ?? 0) };
  } catch (error) {
    return (__REFUSAL__)(error);
  }
}
""".replace("__REFUSAL__", _REFUSAL_JS)

_SEND_TEXT_JS = """
async (o) => {
  try {
    const result = await WPP.chat.sendTextMessage(o.to, o.text, { createChat: true });
    return { id: String(result.id), ack: Number(result.ack ?? 0) };
  } catch (error) {
    return (__REFUSAL__)(error);
  }
}
""".replace("__REFUSAL__", _REFUSAL_JS)

#: wa-js up to 4.x takes `(phone, sendPushNotification)`; its newest releases one
#: object `{phone, sendPushNotification}`, checked by a zod schema that rejects a
#: string, so a ZodError on the first form means "use the second". WPPError's
#: `code` (e.g. cannot_get_code_for_already_authenticated) is kept in the message.
_PAIRING_CODE_JS = """
async ({ phone, push }) => {
  const generate = WPP.conn.genLinkDeviceCodeForPhoneNumber;
  if (typeof generate !== 'function') {
    throw new Error('wafleet:unsupported: this wa-js has no conn.genLinkDeviceCodeForPhoneNumber');
  }
  const call = async () => {
    try {
      return await generate(phone, push);
    } catch (error) {
      if (error && (error.name === 'ZodError' || Array.isArray(error.issues))) {
        return await generate({ phone, sendPushNotification: push });
      }
      throw error;
    }
  };
  try {
    return String(await call());
  } catch (error) {
    throw new Error(`wafleet:${(error && error.code) || 'error'}: ${error && error.message}`);
  }
}
"""

_FILE_INPUT_JS = """
() => {
  const input = document.createElement('input');
  input.type = 'file';
  return input;
}
"""


class BrowserEngineSettings(BaseSettings):
    """Browser-engine knobs not in the operator↔runner contract (`WAFLEET_BROWSER_*`)."""

    model_config = SettingsConfigDict(env_prefix=BROWSER_ENV_PREFIX, extra="ignore", frozen=True)

    url: str = Field(default="https://web.whatsapp.com", description="WhatsApp Web's address.")
    headless: bool = True
    memory_ceiling_mb: float = Field(
        default=900.0, ge=0, description="Restart Chromium above this PSS sum; 0 disables."
    )
    memory_check_interval_s: float = Field(default=30.0, gt=0)
    load_timeout_s: float = Field(
        default=120.0, gt=0, description="Page load plus WPP ready, per launch."
    )
    relaunch_backoff_s: float = Field(default=1.0, gt=0)
    relaunch_backoff_max_s: float = Field(default=60.0, gt=0)
    qr_lifetime_s: float = Field(default=20.0, ge=0, description="What QrCode.expires_in_s says.")
    user_agent: str | None = Field(
        default=None,
        description="None: a desktop Chrome UA of the installed Chromium's version (WhatsApp "
        "Web refuses headless Chromium's own 'HeadlessChrome' UA).",
    )
    send_timeout_s: float = Field(default=120.0, gt=0)
    pairing_push_notification: bool = Field(
        default=True,
        description="genLinkDeviceCodeForPhoneNumber's sendPushNotification: the phone shows a "
        "notification that leads to the code entry.",
    )
    media_max_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    media_mime_families: tuple[str, ...] = ("image", "video", "audio", "application", "text")
    memory_tunings: Annotated[tuple[str, ...], NoDecode] = Field(
        default=LOW_MEMORY_NAMES,
        description="Which of chromium.LOW_MEMORY_TUNINGS (Chromium flags, node options of "
        "Playwright's driver) to apply: all by default, () for Chromium's and node's defaults.",
    )
    chromium_args: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="More Chromium flags, last on the command line. Chromium keeps only the last "
        "--disable-features/--enable-features: repeat the tunings' lists when adding to them.",
    )

    @field_validator("memory_tunings", "chromium_args", mode="before")
    @classmethod
    def _split(cls, value: Any, info: ValidationInfo) -> Any:
        """The registry passes environment values as strings: a JSON list, or plain words.

        Tuning names split on commas and spaces; flags only on spaces (a flag may hold commas).
        """
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        if info.field_name == "memory_tunings":
            text = text.replace(",", " ")
        return text.split()

    @field_validator("memory_tunings")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        select_tunings(value)  # unknown names fail here, at configuration time
        return value


def _load_bridge() -> str:
    return resources.files(__package__).joinpath("browser_bridge.js").read_text("utf-8")


#: Reaper tasks of killed engines, referenced until they finish.
_REAPERS: set[asyncio.Task[None]] = set()


async def _reap(playwright: Playwright, driver_pid: int | None) -> None:
    """After kill(): let Playwright's driver exit (it sends nothing to WhatsApp: Chromium is dead)."""
    try:
        await asyncio.wait_for(playwright.stop(), 5)
    except Exception:  # a stuck or broken driver: it goes the hard way
        if driver_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(driver_pid, signal.SIGKILL)


def chrome_user_agent(chromium_path: Path) -> str:
    """A desktop Chrome user agent for the installed Chromium (reduced UA form: `Chrome/<major>.0.0.0`).

    Headless Chromium announces itself as `HeadlessChrome`, which WhatsApp Web
    answers with an "update your browser" page. Blocking (runs `--version`): call from a thread.
    """
    major = "130"
    try:
        output = subprocess.run(
            [str(chromium_path), "--version"], capture_output=True, text=True, timeout=30
        ).stdout
        if found := re.search(r"(\d+)\.\d+\.\d+\.\d+", output):
            major = found.group(1)
    except (OSError, subprocess.SubprocessError):
        log.warning("could not ask %s for its version; claiming Chrome %s", chromium_path, major)
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major}.0.0.0 Safari/537.36"
    )


def find_browser_pid(profile: Path) -> int | None:
    """Chromium's main process for `profile`: `--user-data-dir=<profile>` in argv, no `--type=`.

    Blocking (/proc scan): call from a thread.
    """
    marker = f"--user-data-dir={profile}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in argv and not any(arg.startswith(b"--type=") for arg in argv):
            return int(entry)
    return None


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def process_group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`. Blocking: call from a thread."""
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat_fields(int(entry))
        except (OSError, ValueError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry))
    return found


class BrowserEngine(Engine):
    """WhatsApp Web in Chromium through wa-js; see the module docstring."""

    name: ClassVar[str] = "browser"

    def __init__(
        self,
        *,
        chromium_path: Path = DEFAULT_CHROMIUM_PATH,
        wajs_path: Path,
        phone_number: str | None = None,
        options: BrowserEngineSettings | None = None,
    ) -> None:
        self.options = options or BrowserEngineSettings()
        self._core = EngineCore(
            "browser engine",
            log,
            fallback_jid=normalize_jid(phone_number) if phone_number else None,
        )
        self._tunings = select_tunings(self.options.memory_tunings)
        self._chromium_path = chromium_path
        self._wajs_path = wajs_path
        self._bridge_js = _load_bridge()
        self._wajs_source = ""
        self._user_agent: str | None = None
        self._profile: Path | None = None

        self._playwright: Playwright | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._bridged: asyncio.Event = asyncio.Event()
        self._browser_lock = asyncio.Lock()
        self._chromium_pid: int | None = None
        self._driver_pid: int | None = None
        self._launches = 0
        self._recovering = False
        self._reaper: asyncio.Task[None] | None = None

    # -- what the runner calls ------------------------------------------------

    def sent_under(self, idempotency_key: str) -> str | None:
        return self._core.sent_under(idempotency_key)

    @property
    def ready(self) -> bool:
        """Logged in and connected (WPP main_ready seen in the current browser)."""
        return self._core.ready

    async def start(self, session_dir: Path) -> None:
        """Launch Chromium on `session_dir/profile`, load WhatsApp Web, bridge WPP; once only."""
        self._core.begin()
        self._profile = (session_dir / PROFILE_DIR).resolve()
        try:
            self._wajs_source = await asyncio.to_thread(self._prepare)
            with driver_node_options(tuning_node_options(self._tunings)):
                self._playwright = await async_playwright().start()
            async with self._browser_lock:
                await self._launch()
        except (PlaywrightError, TimeoutError, OSError) as error:
            if self._core.running:
                await self.stop()
            raise EngineError(f"WhatsApp Web did not load in Chromium: {error}") from error
        except BaseException:
            if self._core.running:
                await self.stop()
            raise
        self._core.check_started()
        if self.options.memory_ceiling_mb > 0:
            self._core.tasks.spawn(self._watch_memory())

    async def stop(self) -> None:
        """Fail pending sends, close Chromium (flushing the profile), end the stream."""
        if self._core.phase is Phase.KILLED and self._reaper is not None:
            with contextlib.suppress(Exception):  # after kill(): only wait for the driver
                await asyncio.shield(self._reaper)
            return
        await self._core.stop(self._close_all)

    async def _close_all(self) -> None:
        await self._close_browser()
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                await self._playwright.stop()
            self._playwright = None

    def kill(self) -> None:
        """SIGKILL Chromium's process group and the driver; drop queued events. Synchronous."""
        self._core.kill(self._kill_processes)

    def _kill_processes(self) -> None:
        pid = self._chromium_pid
        if pid is None and self._profile is not None:  # killed mid-launch: look it up now
            pid = find_browser_pid(self._profile)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        if self._playwright is not None:
            # Chromium is dead; the driver only talks to it and to us. Closing its
            # pipe makes it exit (and kill any browser it was still launching);
            # one that does not is SIGKILLed. Tracked so it is not collected early.
            reaper = asyncio.get_running_loop().create_task(
                _reap(self._playwright, self._driver_pid)
            )
            _REAPERS.add(reaper)
            reaper.add_done_callback(_REAPERS.discard)
            self._reaper = reaper
        self._context = None
        self._page = None
        self._playwright = None

    def events(self) -> AsyncIterator[EngineEvent]:
        """The event stream; one consumer only (a second call raises)."""
        return self._core.stream.take()

    async def send_text(self, to: str, text: str, *, idempotency_key: str | None = None) -> str:
        """`WPP.chat.sendTextMessage(to, text, {createChat: true})`; its `id`."""
        jid = to_wa(normalize_jid(to))

        async def send() -> str:
            page = self._sendable_page()
            return self._sent(
                await self._in_flight(page.evaluate(_SEND_TEXT_JS, {"to": jid, "text": text}))
            )

        return await self._core.send_once(idempotency_key, send)

    async def send_media(
        self,
        to: str,
        media: MediaRef,
        caption: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> str:
        """Check the file in a thread, give Chromium its path, `WPP.chat.sendFileMessage` it."""
        jid = to_wa(normalize_jid(to))
        limits = {
            "max_bytes": self.options.media_max_bytes,
            "families": self.options.media_mime_families,
        }

        async def send() -> str:
            self._sendable_page()
            check_declared(media, **limits)  # type: ignore[arg-type]
            await asyncio.to_thread(check_media, media, **limits)  # type: ignore[arg-type]
            page = self._sendable_page()
            arguments = {
                "to": jid,
                "caption": caption,
                "filename": media.filename or media.path.name,
                "mimetype": media.mime_type,
            }

            async def deliver() -> Any:
                handle = await page.evaluate_handle(_FILE_INPUT_JS)
                try:
                    element = handle.as_element()
                    if element is None:
                        raise EngineError("the page did not make a file input")
                    # A local browser gets only the path: Chromium reads the file itself.
                    await element.set_input_files(str(media.path.resolve()))
                    return await page.evaluate(_SEND_FILE_JS, [element, arguments])
                finally:
                    with contextlib.suppress(PlaywrightError):
                        await handle.dispose()

            return self._sent(await self._in_flight(deliver()))

        return await self._core.send_once(idempotency_key, send)

    async def request_pairing_code(self, phone_number: str) -> str:
        """`WPP.conn.genLinkDeviceCodeForPhoneNumber` on the page awaiting login; emitted as `PairingCode` too.

        WhatsApp Web then shows the code instead of the QR; typing it on the
        phone (Linked devices → Link with phone number) logs in as a scan would
        (LoggedIn, Connected). Raises `ValueError` for something that is not a
        phone number, `EngineError` when already logged in, `NotReady` while
        WhatsApp Web is not loaded (relaunching) or refuses, `EngineStopped`
        once stopped.
        """
        digits, _, server = normalize_jid(phone_number).partition("@")
        if server != "s.whatsapp.net" or not digits.isdigit():
            raise ValueError(f"a pairing code needs a phone number, not {phone_number!r}")
        core = self._core
        if core.phase is Phase.CONFLICTED:
            raise NotReady("the session was replaced by another client (conflict)")
        if not core.running:
            raise EngineStopped(f"the engine is {core.phase}")
        if core.logged_in:
            raise EngineError("already logged in: no pairing code needed")
        page = self._page
        if page is None or not self._bridged.is_set():
            raise NotReady("WhatsApp Web is not loaded (the browser is relaunching)")
        arguments = {"phone": digits, "push": self.options.pairing_push_notification}
        try:
            code = await asyncio.wait_for(
                page.evaluate(_PAIRING_CODE_JS, arguments), self.options.load_timeout_s
            )
        except PlaywrightError as error:
            text = str(error)
            if "already_authenticated" in text:
                raise EngineError("already logged in: no pairing code needed") from error
            raise NotReady(f"WhatsApp Web did not give a pairing code: {text[:200]}") from error
        except TimeoutError as error:
            raise NotReady("WhatsApp Web did not answer the pairing-code request") from error
        if not isinstance(code, str) or not code:
            raise NotReady(f"WhatsApp Web gave no pairing code: {code!r:.100}")
        if not core.running or core.logged_in:
            raise NotReady("the session changed while the pairing code was requested")
        core.emit(PairingCode(code=code))
        return code

    @contextlib.asynccontextmanager
    async def quiesce(self) -> AsyncIterator[None]:
        """Close Chromium (LevelDB flushed, nothing writing), yield for the copy, relaunch."""
        if self._core.phase not in (Phase.RUNNING, Phase.CONFLICTED):
            yield
            return
        async with self._browser_lock:
            self._core.disconnect("quiesce: browser closed for a snapshot", keep_login=False)
            await self._close_browser()
            try:
                yield
            finally:
                if self._core.running:
                    try:
                        await self._launch()
                    except Exception:
                        log.exception("relaunch after quiesce failed; recovering")
                        self._core.tasks.spawn(self._recover("relaunch after quiesce failed"))

    # -- diagnostics and tests ---------------------------------------------------

    @property
    def page(self) -> Page | None:
        """The WhatsApp Web page of the current launch (diagnostics; tests drive the stand-in)."""
        return self._page

    @property
    def chromium_pid(self) -> int | None:
        """Chromium's main process (also its process group id), None while not running."""
        return self._chromium_pid

    @property
    def driver_pid(self) -> int | None:
        """Playwright's node driver process (Chromium's parent)."""
        return self._driver_pid

    @property
    def launches(self) -> int:
        """How many times Chromium was launched (1 + crash, memory and quiesce relaunches)."""
        return self._launches

    @property
    def phase(self) -> str:
        """new, running, conflicted, stopping, stopped or killed."""
        return self._core.phase.value

    async def chromium_pss_mb(self) -> float:
        """PSS sum of Chromium's process group now (what the memory ceiling compares)."""
        pgid = self._chromium_pid
        if pgid is None:
            return 0.0
        return await asyncio.to_thread(lambda: pss_mb(process_group_pids(pgid)))

    # -- browser lifecycle -------------------------------------------------------

    def _prepare(self) -> str:
        """Create the profile folder, settle the UA; read wa-js once (not per page load, not on the loop)."""
        assert self._profile is not None
        self._profile.mkdir(parents=True, exist_ok=True)
        if self._user_agent is None:
            self._user_agent = self.options.user_agent or chrome_user_agent(self._chromium_path)
        source = self._wajs_path.read_text("utf-8")
        return f"{source}\n//# sourceURL=wppconnect-wa.js\n"

    async def _launch(self) -> None:
        """One Chromium on the profile, WhatsApp Web loaded and bridged. Caller holds the lock."""
        assert self._playwright is not None
        assert self._profile is not None
        self._core.generation += 1
        generation = self._core.generation
        self._bridged = asyncio.Event()
        self._launches += 1
        context = await self._playwright.chromium.launch_persistent_context(
            str(self._profile),
            **launch_kwargs(
                self._chromium_path,
                self.options.headless,
                (*tuning_args(self._tunings), *self.options.chromium_args),
            ),
            # WhatsApp Web's CSP forbids inline scripts: without this the injected
            # wa-js <script> would be refused.
            bypass_csp=True,
            user_agent=self._user_agent,
        )
        if generation != self._core.generation:  # killed or stopped meanwhile
            with contextlib.suppress(PlaywrightError):
                await context.close()
            raise EngineStopped("the engine stopped while Chromium was launching")
        self._context = context
        context.on("close", lambda _: self._on_browser_gone(generation, "browser exited"))
        pid = await asyncio.to_thread(find_browser_pid, self._profile)
        self._chromium_pid = pid
        self._driver_pid = await asyncio.to_thread(self._parent_pid, pid)
        await context.expose_binding(
            BINDING, lambda source, payload: self._on_binding(generation, payload)
        )
        page = context.pages[0] if context.pages else await context.new_page()
        self._page = page
        page.on("crash", lambda _: self._on_browser_gone(generation, "page crashed"))
        page.on("load", lambda loaded: self._core.tasks.spawn(self._bridge(generation, loaded)))
        await page.goto(self.options.url, wait_until="load", timeout=self._timeout_ms)
        await asyncio.wait_for(self._bridged.wait(), self.options.load_timeout_s)

    @property
    def _timeout_ms(self) -> float:
        return self.options.load_timeout_s * 1000

    @staticmethod
    def _parent_pid(pid: int | None) -> int | None:
        if pid is None:
            return None
        try:
            return int(_stat_fields(pid)[1])
        except (OSError, ValueError):
            return None

    async def _bridge(self, generation: int, page: Page) -> None:
        """Inject wa-js into a freshly loaded document and attach the event bridge."""
        if generation != self._core.generation or page.url in ("", "about:blank"):
            return
        try:
            await page.add_script_tag(content=self._wajs_source)
            state = await asyncio.wait_for(
                page.evaluate(self._bridge_js, {"binding": BINDING}), self.options.load_timeout_s
            )
        except (PlaywrightError, TimeoutError) as error:
            if "destroyed" in str(error) or "navigat" in str(error):
                return  # the document went away (a reload): its successor gets bridged
            if generation == self._core.generation and self._core.running:
                log.warning("could not bridge WhatsApp Web (%s); restarting the browser", error)
                self._core.tasks.spawn(self._restart("wa-js did not become ready"))
            return
        if generation != self._core.generation:
            return
        for event in map_bridge_state(state, **self._mapping()):
            self._core.apply(event)
        self._bridged.set()

    async def _close_browser(self) -> None:
        """Close the context (Chromium flushes the profile); its close event is not a crash."""
        self._core.generation += 1
        context, self._context, self._page = self._context, None, None
        self._chromium_pid = None
        if context is not None:
            with contextlib.suppress(PlaywrightError):
                await context.close()

    def _on_browser_gone(self, generation: int, reason: str) -> None:
        """Chromium (or its page) died without us asking: Disconnected, then relaunch."""
        if generation != self._core.generation or not self._core.running:
            return
        self._core.generation += 1
        log.warning("Chromium went away (%s); relaunching on the same profile", reason)
        self._core.disconnect(reason, keep_login=False)
        self._core.tasks.spawn(self._recover(reason))

    async def _restart(self, reason: str) -> None:
        """Close and relaunch on purpose (memory ceiling, a page that never got ready)."""
        async with self._browser_lock:
            if not self._core.running:
                return
            self._core.disconnect(reason, keep_login=False)
            await self._close_browser()
        await self._recover(reason, first_delay=0.0)

    async def _recover(self, reason: str, *, first_delay: float | None = None) -> None:
        """Relaunch with exponential backoff until it works or the engine stops."""
        if self._recovering:
            return
        self._recovering = True
        backoff = Backoff(
            self.options.relaunch_backoff_s, self.options.relaunch_backoff_max_s, first=first_delay
        )
        try:
            while self._core.running:
                await asyncio.sleep(backoff.next())
                async with self._browser_lock:
                    if not self._core.running:
                        return
                    try:
                        await self._close_browser()
                        await self._launch()
                        log.info("Chromium relaunched after: %s", reason)
                        return
                    except EngineStopped:
                        return
                    except (PlaywrightError, TimeoutError, OSError) as error:
                        log.warning("relaunch failed (%s); retrying", error)
        finally:
            self._recovering = False

    async def _watch_memory(self) -> None:
        """Restart Chromium when its processes' PSS sum exceeds the ceiling."""
        ceiling = self.options.memory_ceiling_mb
        while self._core.running:
            await asyncio.sleep(self.options.memory_check_interval_s)
            if not self._core.running or self._browser_lock.locked():
                continue
            used = await self.chromium_pss_mb()
            if used > ceiling:
                log.warning("Chromium uses %.0f MB PSS > %.0f MB: restarting", used, ceiling)
                await self._restart(f"memory ceiling: {used:.0f} MB > {ceiling:.0f} MB")

    # -- bridge events → engine events (browser_events.py) → the core -----------------

    def _mapping(self) -> dict[str, Any]:
        return {
            "qr_lifetime_s": self.options.qr_lifetime_s,
            "account_jid": self._core.jid or self._core.fallback_jid,
        }

    def _on_binding(self, generation: int, payload: Any) -> None:
        """One WPP event from the page (JSON); events of an older launch are ignored."""
        if generation != self._core.generation or not self._core.running:
            return
        try:
            events = map_bridge_payload(payload, **self._mapping())
        except (ValueError, KeyError, TypeError):
            log.exception("unreadable event from the page: %.200r", payload)
            return
        for event in events:
            self._core.apply(event)
            if isinstance(event, Conflict):
                return  # fenced: what followed it in the payload is stale

    # -- sending plumbing ---------------------------------------------------------

    def _sendable_page(self) -> Page:
        self._core.check_sendable("WhatsApp Web is not logged in and connected")
        if self._page is None:
            raise NotReady("WhatsApp Web is not logged in and connected")
        return self._page

    async def _in_flight(self, call: Coroutine[Any, Any, T]) -> T:
        """Run a page call; stop/kill/crash/conflict interrupts it with `SendInterrupted`."""
        task: asyncio.Task[T] = asyncio.ensure_future(call)
        await self._core.in_flight.wait(
            task,
            answer_within_s=self.options.send_timeout_s,
            no_answer="WhatsApp Web did not answer the send in time",
        )
        try:
            return task.result()
        except PlaywrightError as error:  # the page call itself failed (not WhatsApp's refusal)
            text = str(error)[:200]
            if not self._core.ready or "closed" in text.lower():
                raise SendInterrupted(f"the browser went away during the send: {text}") from error
            raise SendRejected(0, retryable=False, detail=text) from error

    def _sent(self, result: Any) -> str:
        """The page's answer: a message id, or WhatsApp's refusal with its code as a field."""
        if isinstance(result, dict) and isinstance(result.get("error"), dict):
            raise self._refusal(result["error"])
        if not isinstance(result, dict) or not isinstance(result.get("id"), str):
            raise SendInterrupted(f"WhatsApp Web returned no message id: {result!r:.200}")
        message_id: str = result["id"]
        return message_id

    def _refusal(self, error: dict[str, Any]) -> EngineError:
        """A send wa-js refused: quota (463/475, from the error's code) → signalled and final."""
        detail = str(error.get("message") or "")[:200]
        if not self._core.ready:
            return SendInterrupted(f"the session went away during the send: {detail}")
        code = js_error_code(error)
        if (quota := quota_code(code)) is not None:
            self._core.emit(QuotaSignal(code=quota, detail=detail))
            return SendRejected(quota, retryable=False, detail=detail)
        return SendRejected(code or 0, retryable=False, detail=detail)
