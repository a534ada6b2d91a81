"""Run the emulator on 127.0.0.1 in a background thread with its own event loop.

A thread (not the test's loop) so that synchronous tests, async tests and
subprocesses (kopf, kubectl) can all reach it over real HTTP while the test
itself blocks or awaits as it likes.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from aiohttp import web

from .faults import Faults
from .resources import CRD_GROUP, CRD_PLURAL, ResourceRegistry
from .server import ApiServer, EmulatorSettings, RequestRecord
from .store import ObjectStore

Obj = dict[str, Any]

TOKEN = "emulator-token"
CONTEXT = "emulator"


class KubeEmulator:
    """One emulated API server: start(), use `.url`/`.kubeconfig`/`.store`/`.faults`, stop()."""

    def __init__(
        self, *, settings: EmulatorSettings | None = None, history_size: int = 10_000
    ) -> None:
        self.settings = settings or EmulatorSettings()
        self.registry = ResourceRegistry.with_builtins()
        self.store = ObjectStore(self.registry, history_size=history_size)
        self.faults = Faults()
        self._server = ApiServer(self.store, self.faults, self.settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self.kubeconfig: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def requests(self) -> list[RequestRecord]:
        """Requests answered so far (method, path, query, status), oldest first."""
        return list(self._server.requests)

    def start(self) -> KubeEmulator:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            self._runner = web.AppRunner(
                self._server.app(), access_log=None, shutdown_timeout=1.0, handler_cancellation=True
            )
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(serve())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="kube-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise RuntimeError("the Kubernetes API emulator did not start") from failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self.store.close()  # ends open watch streams, so shutdown does not wait for them
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        """A kubeconfig with one context, "emulator": this server, token auth, TLS checks off."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": CONTEXT, "cluster": {"server": self.url, "insecure-skip-tls-verify": True}}
            ],
            "users": [{"name": CONTEXT, "user": {"token": TOKEN}}],
            "contexts": [
                {
                    "name": CONTEXT,
                    "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
                }
            ],
            "current-context": CONTEXT,
            "preferences": {},
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig = path
        return path

    def register_crd(self, crd: Obj) -> Obj:
        """Create a CustomResourceDefinition (like POSTing it); returns it Established."""
        crd_rt = self.registry.find(f"{CRD_GROUP}/v1", CRD_PLURAL)
        created = self.store.create(crd_rt, None, crd)
        return self.store.get(crd_rt, None, created["metadata"]["name"])
