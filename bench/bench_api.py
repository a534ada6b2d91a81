"""`make bench ONLY=api`: what `POST /v1/messages` costs over an endpoint that does nothing.

- api_send_p99_ms: the p99 latency of `POST /v1/messages` (a key checked, the
  body validated, the pool routed through the API server's SenderPools, the
  idempotency record put in DynamoDB, the message published to SNS: the moto
  server) under CONCURRENCY concurrent clients, served by `wafleet-runner api`
  as a process of its own / the same requests to a bare FastAPI endpoint that
  answers 202 at once, served by uvicorn with the same options, on the same
  machine in the same run (goal: ratio <= 3). The median p99 of RUNS
  alternating runs of each.

The clients run in a process of their own (aiohttp, one connection per
client), so their CPU is not the server's event loop's; every request carries
its own Idempotency-Key, as an integrator's distinct messages would.

Sizes: WAFLEET_BENCH_API_REQUESTS (4,000 per run), WAFLEET_BENCH_API_CONCURRENCY
(200), WAFLEET_BENCH_API_RUNS (3).
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import uvicorn
from aiohttp import ClientSession, ClientTimeout, TCPConnector
from kubernetes import client, config

from bench.result import BenchResult
from session_runner.api.keys import ApiKey, entries_json, key_digest
from session_runner.sender.ledger import ensure_table
from tests.harness.control_plane import find_assets, start_control_plane
from tests.harness.control_plane.processes import free_port
from tests.harness.devserver import (
    DEV_ACCESS_KEY_ID,
    DEV_REGION,
    DEV_SECRET_ACCESS_KEY,
    MotoServer,
)
from tests.harness.kube import apply_crds, crd_documents

REQUESTS = int(os.environ.get("WAFLEET_BENCH_API_REQUESTS", "4000"))
CONCURRENCY = int(os.environ.get("WAFLEET_BENCH_API_CONCURRENCY", "200"))
RUNS = int(os.environ.get("WAFLEET_BENCH_API_RUNS", "3"))
NAMESPACE = "bench-api"
TARGET = "bench-pool"
TOPIC = "wafleet-bench-outbound"
TABLE = "wafleet-bench-ledger"
#: The one API key (the client processes are spawned: they get it as an argument, since a
#: re-import of this module would draw another).
KEY = "bench-" + base64.urlsafe_b64encode(os.urandom(24)).decode()


def _log(text: str) -> None:
    print(f"# api: {text}", file=sys.stderr, flush=True)


# -- the bare endpoint ------------------------------------------------------------------


def _serve_bare(port: int) -> None:
    """A FastAPI app whose `POST /v1/messages` does nothing, served as the API is."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/v1/messages", status_code=202)
    async def accept() -> JSONResponse:
        return JSONResponse({}, status_code=202)

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        loop="uvloop",
        http="httptools",
        lifespan="off",
    )


# -- the clients ------------------------------------------------------------------------


def _load(url: str, key: str, requests: int, concurrency: int, results: Any) -> None:
    """`requests` POSTs from `concurrency` clients; puts (latencies in s, non-2xx count, the
    timed part's wall time in s).

    Each client first opens its connection with one untimed request, and the timing starts
    once all have: 200 clients connecting at once is a burst of accepts and handshakes that
    happens once per client, not per request, and it was the bare endpoint's p99 (its first
    tenth of requests had a p99 of ~90 ms, the other tenths 24-47 ms, 2026-12-07).
    """

    async def go() -> tuple[list[float], int, float]:
        latencies: list[float] = []
        failures = 0
        left = iter(range(requests))
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        connector = TCPConnector(limit=concurrency, force_close=False)
        connected = 0
        all_connected = asyncio.Event()
        async with ClientSession(connector=connector, timeout=ClientTimeout(total=60)) as http:

            async def post(text: str) -> float:
                nonlocal failures
                body = json.dumps({"target": TARGET, "to": "+14155550123", "text": text})
                started = time.perf_counter()
                async with http.post(
                    url, data=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}
                ) as answer:
                    await answer.read()
                    if answer.status >= 300:
                        failures += 1
                return time.perf_counter() - started

            async def client_loop() -> None:
                nonlocal connected
                try:
                    await post("connect")
                finally:  # one that failed counts too: the timing starts, gather raises it
                    connected += 1
                    if connected == concurrency:
                        all_connected.set()
                await all_connected.wait()
                for n in left:
                    latencies.append(await post(f"hello {n}"))

            clients = [asyncio.create_task(client_loop()) for _ in range(concurrency)]
            await all_connected.wait()
            started = time.perf_counter()
            await asyncio.gather(*clients)
            wall = time.perf_counter() - started
        return latencies, failures, wall

    results.put(asyncio.run(go()))


def measure(url: str, requests: int) -> tuple[list[float], int, float]:
    """Latencies of `requests` POSTs to `url` from a client process of its own, the non-2xx
    count, and the timed part's wall time."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_load, args=(url, KEY, requests, CONCURRENCY, results))
    process.start()
    try:
        latencies, failures, wall = results.get(timeout=600)
    finally:
        process.join(30)
    return latencies, failures, wall


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def _wait_listening(port: int, process: Any) -> None:
    """Until `port` accepts connections; raises when `process` (a Popen or a Process) exits."""
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        alive = (
            process.poll() is None if isinstance(process, subprocess.Popen) else process.is_alive()
        )
        if not alive:
            raise RuntimeError(f"the server on port {port} exited before it listened")
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on port {port} within 60 s")


@contextmanager
def bare_server() -> Iterator[str]:
    port = free_port()
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=_serve_bare, args=(port,))
    process.start()
    try:
        _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}/v1/messages"
    finally:
        process.terminate()
        process.join(10)


# -- the real API -----------------------------------------------------------------------


def _pool(custom: Any, queue_url: str) -> None:
    """A SenderPool routing TARGET, with the status the operator would write."""
    custom.create_namespaced_custom_object(
        "wafleet.io",
        "v1alpha1",
        NAMESPACE,
        "senderpools",
        {
            "apiVersion": "wafleet.io/v1alpha1",
            "kind": "SenderPool",
            "metadata": {"name": TARGET},
            "spec": {"vendor": "twilio", "target": TARGET, "credentialsSecret": {"name": "x"}},
        },
    )
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "SendersReady",
        "message": "ready",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    custom.patch_namespaced_custom_object_status(
        "wafleet.io",
        "v1alpha1",
        NAMESPACE,
        "senderpools",
        TARGET,
        {"status": {"conditions": [ready], "queueUrl": queue_url}},
    )


@contextmanager
def api_server(moto: MotoServer, kubeconfig: Path, bucket: str) -> Iterator[str]:
    """`wafleet-runner api` as a process of its own, as a pod runs it."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WAFLEET_")},
        "KUBECONFIG": str(kubeconfig),
        "AWS_ACCESS_KEY_ID": DEV_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEV_SECRET_ACCESS_KEY,
        "WAFLEET_API_NAMESPACE": NAMESPACE,
        "WAFLEET_API_HOST": "127.0.0.1",
        "WAFLEET_API_PORT": str(port),
        "WAFLEET_API_METRICS_PORT": "0",
        "WAFLEET_API_OUTBOUND_TOPIC": TOPIC,
        "WAFLEET_API_LEDGER_TABLE": TABLE,
        "WAFLEET_API_REQUESTS_TABLE": TABLE,
        "WAFLEET_API_AWS_ENDPOINT_URL": moto.endpoint_url,
        "WAFLEET_API_AWS_REGION": DEV_REGION,
        "WAFLEET_API_LOG_LEVEL": "warning",
        "WAFLEET_API_KEYS": entries_json([ApiKey(name="bench", sha256=key_digest(KEY).hex())]),
        "WAFLEET_BULK_BUCKET": bucket,
    }
    runner = Path(sys.executable).with_name("wafleet-runner")
    with tempfile.TemporaryFile() as log:  # a file, not a pipe nobody reads while it runs
        process = subprocess.Popen([str(runner), "api"], env=env, stderr=log)
        try:
            _wait_listening(port, process)
            yield f"http://127.0.0.1:{port}/v1/messages"
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.returncode not in (0, -15):
                log.seek(0)
                said = log.read().decode(errors="replace")[-2000:]
                _log(f"api exited {process.returncode}: {said}")


def run() -> list[BenchResult]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", DEV_ACCESS_KEY_ID)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", DEV_SECRET_ACCESS_KEY)
    assets = find_assets()
    if isinstance(assets, str):
        raise RuntimeError(f"the api bench needs a real control plane: {assets}")
    with tempfile.TemporaryDirectory(prefix="wafleet-bench-api-") as tmp, MotoServer() as moto:
        plane = start_control_plane(assets, Path(tmp) / "control-plane")
        try:
            apply_crds(plane, crd_documents())
            kubeconfig = plane.write_kubeconfig(Path(tmp) / "kubeconfig")
            api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
            client.CoreV1Api(api).create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
            )
            sqs = boto3.client("sqs", **moto.client_kwargs())
            boto3.client("sns", **moto.client_kwargs()).create_topic(Name=TOPIC)
            # the pool's queue exists, but is not subscribed: moto's SQS scans a queue's every
            # message on each send, a cost that grows through the run and is moto's, not the
            # API's (real SNS fans out to SQS outside the publisher's request)
            queue = sqs.create_queue(QueueName="bench-pool")["QueueUrl"]
            _pool(client.CustomObjectsApi(api), queue)
            ensure_table(boto3.client("dynamodb", **moto.client_kwargs()), TABLE)
            bucket = "wafleet-bench-bulk"
            boto3.client("s3", **moto.client_kwargs()).create_bucket(Bucket=bucket)
            ours_p99: list[float] = []
            bare_p99: list[float] = []
            with api_server(moto, kubeconfig, bucket) as ours, bare_server() as bare:
                measure(ours, CONCURRENCY)  # warm: connections, the routing cache, moto
                measure(bare, CONCURRENCY)
                for n in range(RUNS):  # alternating, so drift in the machine hits both alike
                    latencies, failed, wall = measure(ours, REQUESTS)
                    if failed:
                        raise RuntimeError(f"{failed} of {REQUESTS} sends were not accepted")
                    ours_p99.append(p99(latencies))
                    bare_latencies, _, bare_wall = measure(bare, REQUESTS)
                    bare_p99.append(p99(bare_latencies))
                    _log(
                        f"run {n + 1}/{RUNS}: p99 {ours_p99[-1] * 1000:.0f} ms (median "
                        f"{statistics.median(latencies) * 1000:.0f}, "
                        f"{REQUESTS / wall:.0f} requests/s) vs bare "
                        f"{bare_p99[-1] * 1000:.0f} ms (median "
                        f"{statistics.median(bare_latencies) * 1000:.0f}, "
                        f"{REQUESTS / bare_wall:.0f} requests/s)"
                    )
            api.close()
        finally:
            plane.stop()
    return [
        BenchResult(
            "api",
            "api_send_p99_ms",
            round(statistics.median(ours_p99) * 1000, 1),
            "ms",
            round(statistics.median(bare_p99) * 1000, 1),
            "ratio <= 3",
        )
    ]
