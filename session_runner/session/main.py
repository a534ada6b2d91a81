"""`wafleet-runner session`: wire settings, lease backend, reporter, engine and probes, then run.

In a pod everything comes from the environment the operator rendered
(RunnerSettings). On a laptop the same variables (or the command's flags)
point it at a kubeconfig, or at DynamoDB (the moto server) with the local engine.

Every claim of the lease takes a fencing token above any already used
(`runner.floor`): the snapshot store's latest-pointer and the account's
status both count. A settings error found here (a key Secret that is not 32
bytes) is reported to the account's status as phase Failed, naming the
field, before the process exits non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from session_runner import health, logs, stall
from session_runner.contract.resources import account_path
from session_runner.contract.settings import LeaseBackend, RunnerSettings
from session_runner.kube.client import KubeClient
from session_runner.session.engines.registry import create_engine
from session_runner.session.floor import TokenFloor, combined_floor, status_token_floor
from session_runner.session.lease.factory import open_backend
from session_runner.session.report import FileReporter, KubernetesReporter, Reporter
from session_runner.session.restore_request import AccountReader, OneShotRestore
from session_runner.session.runner import SessionRunner
from session_runner.session.startup import describe_error, report_startup_failure

log = logging.getLogger(__name__)


#: Every read of the account (annotations, restore request, token floor) gives up after this.
ACCOUNT_READ_TIMEOUT_S = 5.0

#: The operator gives the stop `stop_timeout_seconds` of a grace period 10 s longer; the
#: stall report comes halfway into that margin, before the kubelet's SIGKILL.
STALL_REPORT_MARGIN_S = 5.0


def _account_reader(client: KubeClient, settings: RunnerSettings) -> AccountReader:
    path = account_path(settings.namespace, settings.account_name)

    async def read() -> dict[str, Any]:
        return await asyncio.wait_for(client.request("GET", path), ACCOUNT_READ_TIMEOUT_S)

    return read


def _annotations_probe(read_account: AccountReader) -> Any:
    async def probe() -> dict[str, str]:
        account = await read_account() or {}
        return dict((account.get("metadata") or {}).get("annotations") or {})

    return probe


async def run_session(settings: RunnerSettings) -> int:
    stop = asyncio.Event()
    stall.on_stop_signals(asyncio.get_running_loop(), stop)
    # Half the margin before the kubelet's SIGKILL: what held the stop up, in the log.
    watch = asyncio.create_task(
        stall.watch_stop(stop, settings.stop_timeout_seconds + STALL_REPORT_MARGIN_S),
        name="stall-watch",
    )
    try:
        return await _run_session(settings, stop)
    finally:
        watch.cancel()


async def _run_session(settings: RunnerSettings, stop: asyncio.Event) -> int:

    async with contextlib.AsyncExitStack() as stack:
        backend = await stack.enter_async_context(open_backend(settings))
        reporter: Reporter
        probe = None
        read_account: AccountReader | None = None
        floors: list[TokenFloor] = []
        if settings.status_file is not None or settings.lease_backend is LeaseBackend.DYNAMODB:
            reporter = FileReporter(
                settings.status_file or settings.session_dir.parent / "runner-status.json"
            )
        else:
            client = await stack.enter_async_context(KubeClient.connect())
            reporter = KubernetesReporter(client, settings.namespace, settings.account_name)
            read_account = _account_reader(client, settings)
            probe = _annotations_probe(read_account)
            floors.append(status_token_floor(read_account))
        runner = SessionRunner(
            settings,
            backend,
            reporter,
            lambda: create_engine(settings.engine.value, settings),
            annotations_probe=probe,
        )
        runner.use_restore_request(OneShotRestore(settings.restore_from, read_account))
        if settings.snapshot_bucket is not None:
            # Imported only when snapshots are configured: zstandard, cryptography and
            # boto3 are most of the runner's memory, and a runner without a store needs none.
            from session_runner.session.snapshot.crypto import KeyRingError
            from session_runner.session.snapshot.snapshotter import (
                build_hooks,
                build_verify_hook,
                s3_client,
            )
            from session_runner.session.snapshot.store import account_store
            from session_runner.session.snapshot.token_floor import store_token_floor

            try:
                s3 = s3_client(settings)  # one client (and connection pool) for all three
                floors.append(store_token_floor(account_store(settings, s3)))
                restore, snapshot = build_hooks(
                    settings,
                    client=s3,
                    quiesce=runner.quiesce,
                    on_restore=runner.on_restore,
                    on_snapshot=runner.on_snapshot,
                    restore_from=runner.restore_target,
                    named_snapshots=runner.named_snapshots,
                )
                verify = build_verify_hook(settings, client=s3)
            except KeyRingError as error:
                field = "spec.snapshot.encryptionKeySecret"
                return await _startup_failure(settings, backend, reporter, f"{field}: {error}")
            except ValueError as error:  # e.g. an endpoint URL botocore refuses
                field = "spec.snapshot"
                reason = describe_error(error)
                return await _startup_failure(settings, backend, reporter, f"{field}: {reason}")
            runner.use_snapshots(restore, snapshot)
            runner.use_verify(verify)
        if floors:
            runner.use_token_floor(combined_floor(floors))
        if settings.health_port:
            site = await health.serve(
                health.build_app(runner.alive, runner.ready), settings.health_port
            )
            stack.push_async_callback(site.cleanup)
        if settings.metrics_port:
            site = await health.serve(health.build_metrics_app(), settings.metrics_port)
            stack.push_async_callback(site.cleanup)
        return await runner.run(stop)


async def _startup_failure(
    settings: RunnerSettings, backend: Any, reporter: Reporter, message: str
) -> int:
    """Report a settings error as phase Failed (unless a live leader's report is there), exit 2.

    The message names the field and says what is wrong with it, never a value:
    KeyRingError reports sizes and file names only.
    """
    log.error("runner settings: %s", message)
    await report_startup_failure(
        reporter, backend, settings.pod_name, message, now_wall=datetime.now(UTC)
    )
    return 2


def main(settings: RunnerSettings) -> int:
    logs.configure(settings.log_level, "json")
    return asyncio.run(run_session(settings))
