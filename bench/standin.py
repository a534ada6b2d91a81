"""The stand-in WhatsApp Web (tests/fixtures/whatsapp_web) served on 127.0.0.1 for benchmarks.

Served from the benchmark's own process (so a memory benchmark does not count
the server as part of the account), from a copy in the run's work dir (so the
page's files are never the repository's while Chromium caches them).
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STANDIN = REPO / "tests" / "fixtures" / "whatsapp_web"
#: The stand-in's WPP surface, injected in place of the real wa-js.
STANDIN_WAJS = STANDIN / "wppconnect-wa.js"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log in benchmark output."""


@contextlib.contextmanager
def standin_site(workdir: Path) -> Iterator[str]:
    """Serve a copy of the stand-in under `workdir/site`; yields its base URL (no trailing /)."""
    site = workdir / "site"
    shutil.copytree(STANDIN, site)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
