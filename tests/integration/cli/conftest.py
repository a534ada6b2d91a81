"""`wafleet send`, `bulk` and `messages` run as a person runs them (the installed console script,
a subprocess), through the real API served over a socket (`--api`) or directly against the moto
server and the real API server.

The API, its keys, the outbound topic and ledger, and the pools (with the status the operator
would write) are tests/integration/api/conftest.py's; the bulk worker that publishes a job's
rows runs in the test's process, as tests/integration/bulk runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from session_runner.api.app import build_app
from session_runner.bulk.worker import BulkWorker, Ending
from session_runner.contract.bulk_settings import BulkSettings
from session_runner.dynamodb import client_config
from tests.harness.devserver import DEV_ACCESS_KEY_ID, DEV_REGION, DEV_SECRET_ACCESS_KEY
from tests.harness.kube import KubeApi
from tests.integration.api import conftest as api_fixtures
from tests.integration.api.conftest import (
    BULK_BUCKET,
    BULK_TABLE,
    Keys,
    Outbound,
    api_context,
    real_bulk,
    served,
    serving_app,
)

#: The API tests' fixtures, here by name: the keys, the outbound topic and ledger, the pools.
keys = api_fixtures.keys
outbound = api_fixtures.outbound
objects = api_fixtures.objects

WAFLEET = Path(sys.executable).with_name("wafleet")
POOL, TARGET = "alpha-pool", "alpha"


@dataclass(frozen=True)
class Cli:
    """The `wafleet` console script with the test's cluster and AWS (and, `api`, the API's URL
    and a key that may use everything)."""

    env: Mapping[str, str]
    api: str
    key: str

    def run(
        self, *args: str, key: str | None = None, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(WAFLEET), *args],
            capture_output=True,
            text=True,
            env=self.environment(key),
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str, key: str | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(WAFLEET), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.environment(key),
        )

    def environment(self, key: str | None) -> dict[str, str]:
        env = dict(self.env)
        if key is not None:
            env["WAFLEET_API_KEY"] = key
        return env

    def through_api(self, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(*args, "--api", self.api, key=key or self.key)


@pytest.fixture
def served_api(kube_api: KubeApi, outbound: Outbound, keys: Keys) -> Iterator[str]:
    """The API (its real bulk service on moto) served by uvicorn on a free port."""
    for name, value in (("admin", keys.admin), ("scoped", keys.scoped), ("nobody", keys.nobody)):
        kube_api.known_secrets[f"api key {name}"] = value.encode()
    context = api_context(kube_api, outbound, keys, real_bulk(outbound))
    with served(serving_app(build_app(context), context)) as url:
        yield url


@pytest.fixture
def cli(kube_api: KubeApi, outbound: Outbound, keys: Keys, served_api: str) -> Cli:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("WAFLEET_", "AWS_"))
    }
    env.update(
        {
            "KUBECONFIG": str(kube_api.kubeconfig),
            "COLUMNS": "200",
            "AWS_ENDPOINT_URL": outbound.aws.endpoint_url,
            "AWS_DEFAULT_REGION": DEV_REGION,
            "AWS_ACCESS_KEY_ID": DEV_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DEV_SECRET_ACCESS_KEY,
        }
    )
    return Cli(env=env, api=served_api, key=keys.admin)


async def work_bulk_jobs(outbound: Outbound) -> Ending | None:
    """One bulk worker's run over the API's bulk deployment: the oldest job, to its end."""
    kwargs = outbound.aws.server.client_kwargs()
    settings = BulkSettings(
        table=BULK_TABLE,
        bucket=BULK_BUCKET,
        topic_arn=outbound.topic_arn,
        aws_endpoint_url=outbound.aws.endpoint_url,
        aws_region=DEV_REGION,
        lock_seconds=10.0,
        heartbeat_seconds=2.0,
        poll_seconds=0.2,
        exit_when_idle=True,
    )
    worker = BulkWorker(
        settings,
        s3=boto3.client("s3", **kwargs),
        dynamodb=boto3.client("dynamodb", config=client_config(5.0), **kwargs),
        sns=boto3.client("sns", **kwargs),
        identity="cli-test-worker",
    )
    return await worker.run_once()


#: A list with one bad row: row 2, line 3 (no +).
CSV = "to,name\r\n+14155550001,Ann\r\n4155550002,Bob\r\n+14155550003,Cy\r\n"
BAD_ROW = ["3", "2", "to", "not an E.164 phone number (+, then 7 to 15 digits)"]


@pytest.fixture
def recipients(tmp_path: Path) -> Path:
    path = tmp_path / "october.csv"
    path.write_text(CSV, encoding="utf-8")
    return path
