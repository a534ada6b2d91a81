"""An embedded AWS stand-in (the moto server) for development, tests and the local demo.

Development code, so it lives with the test harness and not in the runtime
packages the images install (moto is in pyproject's `dev` group only); the
demo (scripts/demo_local.py) and the benchmarks import it from here too.

wafleet talks to S3, SQS, SNS and DynamoDB only through boto3 with an endpoint
URL, so the same code runs against AWS, MinIO or this server. The server runs in
its own process (moto in-process is ~40 % slower and shares our GIL) and is
reached over real HTTP, exactly as production reaches AWS.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.harness.children import dies_with_parent

#: Credentials moto accepts; never real ones. Kept here so every caller agrees.
DEV_ACCESS_KEY_ID = "testing"
DEV_SECRET_ACCESS_KEY = "testing"  # moto's documented dummy value
DEV_REGION = "us-east-1"


def free_port() -> int:
    """Ask the kernel for a free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _moto_server_command() -> list[str]:
    """moto's server as `tests.harness.moto_main` runs it (see there: its costs, DynamoDB's
    serialised writes), killed with its parent (a SIGKILLed test run leaves no server)."""
    if importlib.util.find_spec("moto") is None:
        raise RuntimeError(
            "moto is not installed in this environment; run `make venv` "
            "(moto is a development dependency)"
        )
    return dies_with_parent([sys.executable, "-m", "tests.harness.moto_main"])


@dataclass
class MotoServer:
    """A moto server subprocess on 127.0.0.1; use as a context manager."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    startup_timeout_s: float = 20.0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The server process's command line."""
        return [*_moto_server_command(), "-H", self.host, "-p", str(self.port)]

    def start(self) -> Self:
        env = dict(os.environ)
        env.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
        self._process = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=Path(__file__).resolve().parents[2],
        )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self._process.returncode}")
            try:
                with urllib.request.urlopen(
                    f"{self.endpoint_url}/moto-api/data.json", timeout=1
                ) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.endpoint_url}")

    def reset(self) -> None:
        """Forget every bucket, queue, topic and table (between tests)."""
        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        self._process = None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `boto3.client(service, **kwargs)` against this server."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": DEV_REGION,
            "aws_access_key_id": DEV_ACCESS_KEY_ID,
            "aws_secret_access_key": DEV_SECRET_ACCESS_KEY,
        }

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
