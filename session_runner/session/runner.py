"""The session loop: lease → restore → engine → snapshot → release, for one account.

    runner = SessionRunner(settings, backend, reporter, engine_factory)
    exit_code = await runner.run(stop_event)

The engine runs only while the lease is held. The elector calls `_lost()`
synchronously the moment the renew deadline passes (before any await), and
`_lost()` kills the engine at once; only then does anything else happen.
A conflict from WhatsApp ("stream replaced": another client took the session)
is treated as fencing: the engine is killed, the lease released, and the
runner does not compete again — it reports Fenced and waits for a person.
The wafleet.io/fenced annotation does the same until it is removed. Which of
the two fenced the session is a `fence.FenceReason`, and only `fence.may_lift`
says whether the fence may end without a restart.

Snapshots (`snapshots.SnapshotSchedule`): restore before the engine starts,
snapshot right after a fresh login (`snapshots.snapshot_after_event`), every
`snapshot_interval_seconds` while leading and once more on graceful stop
(`use_snapshots` installs the snapshot layer's hooks). Storage refusing a
write for a stale fencing token means our token is below one already used:
the engine is killed at once, the runner reports why, releases the lease and
competes again; the next claim takes a token above storage's (the token
floor, `use_token_floor`). It never keeps the lease without an engine.

A start that fails (restore or engine start raising, e.g. one S3 error) is
the same: report Failed with the reason, release the lease, wait a bounded
backoff and compete again; after `startup.MAX_FAILED_STARTS` failures in a
row `alive()` turns false so the kubelet restarts the pod (`startup.py`).

On-demand requests come as annotations (the CLI writes a timestamp):
`requests.next_requests` decides which to serve (once per new value, by the
leader); a snapshot request takes a snapshot, a verify request verifies the
latest snapshot in the background (`verifier.Verifier`; `use_verify` installs
the hook) and reports the answer as `lastVerify`, naming the request it
answered so `wafleet verify --wait` knows it is its own.

Phases are the contract's `RunnerPhase` (`session_runner.contract`), the enum
the operator's CRD model uses. Reports (`status.runner`) are shared with every
other runner of the account, so each one is written only if
`report.decide_write` allows it: a standby never replaces the leader's report,
a deposed leader never its successor's.
The leader re-asserts its report every `report_interval_seconds` (writing
only when the status no longer says what it last reported), so a lost or
overwritten write heals without waiting for the next engine event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from session_runner.contract import RunnerPhase, is_fenced
from session_runner.contract.session_outbound import wiring_from_annotations
from session_runner.contract.settings import RunnerSettings
from session_runner.dispatcher.url_safety import parse_networks
from session_runner.session import metrics
from session_runner.session.engines.base import Engine
from session_runner.session.engines.events import (
    Conflict,
    Connected,
    Disconnected,
    EngineEvent,
    LoggedIn,
    LoggedOut,
    QrCode,
)
from session_runner.session.engines.registry import state_dir
from session_runner.session.engines.tasks import BackgroundTasks
from session_runner.session.fence import Fence, FenceReason, may_lift
from session_runner.session.lease.backend import LeaseBackend
from session_runner.session.lease.decision import Verdict
from session_runner.session.lease.elector import LeaseElector
from session_runner.session.lease.factory import timings_from_settings
from session_runner.session.lease.fencing import FencedOutError
from session_runner.session.lease.record import unique_identity
from session_runner.session.outbound.consumer import SessionOutbound
from session_runner.session.outbound.decision import wanted_consumer
from session_runner.session.outbound.media_fetch import MediaFetcher
from session_runner.session.report import Reporter, RunnerFacts, WriteDecision
from session_runner.session.requests import Served, next_requests
from session_runner.session.restore_request import OneShotRestore
from session_runner.session.snapshot.verify import VerifyHook
from session_runner.session.snapshots import SnapshotHook, SnapshotSchedule, no_snapshot
from session_runner.session.startup import (
    describe_error,
    failed_start_message,
    start_backoff,
    start_healthy,
)
from session_runner.session.verifier import Verifier

if TYPE_CHECKING:  # the snapshot layer loads only when a store is configured
    from session_runner.session.snapshot.restore import RestoreResult
    from session_runner.session.snapshot.snapshotter import SnapshotResult

log = logging.getLogger(__name__)

#: Liveness tolerance past the lease duration, as client-go's HealthzAdaptor takes.
LIVENESS_TOLERANCE_S = 20.0

TokenFloor = Callable[[], Awaitable[int]]


@dataclass(frozen=True)
class StepDown:
    """Why the leader gives the lease up while the process goes on: what to report (with
    the token, before releasing) and how long to wait before competing again."""

    phase: RunnerPhase
    message: str
    pause: float


class SessionRunner:
    """One account's runner process; see the module docstring."""

    def __init__(
        self,
        settings: RunnerSettings,
        backend: LeaseBackend,
        reporter: Reporter,
        engine_factory: Callable[[], Engine],
        *,
        restore: SnapshotHook = no_snapshot,
        snapshot: SnapshotHook = no_snapshot,
        annotations_probe: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
    ) -> None:
        self.settings = settings
        # The Lease holder is "<pod>_<random>" (as client-go's examples do): two pods of one
        # name (a force-deleted pod on a partitioned node) must never both count as holder.
        # Reports name the pod, which is what a person looks for.
        self.identity = settings.pod_name
        self.elector = LeaseElector(
            backend, unique_identity(settings.pod_name), timings_from_settings(settings)
        )
        self._reporter = reporter
        self._engine_factory = engine_factory
        self._restore = restore
        self._annotations_probe = annotations_probe
        self._served: Served | None = None  # request values served; None until the first poll
        self._verifier = Verifier(after=self._report_current)
        self._engine: Engine | None = None
        self._token: int | None = None
        self._last_token: int | None = None  # our latest leadership's token, kept after it ends
        self._report_lock = asyncio.Lock()  # one report at a time, each with the latest facts
        self._login_qr: str | None = None
        self._state_dir = state_dir(settings.engine.value, settings.session_dir)
        self._snapshots = SnapshotSchedule(
            self._state_dir,
            settings.snapshot_interval_seconds,
            on_fenced_out=self._fenced_out,
            after=self._report_current,
        )
        self._snapshots.hook = snapshot
        self._fenced = asyncio.Event()
        self._fence: Fence | None = None  # set with `_fenced`
        self._phase, self._message = RunnerPhase.STARTING, ""
        self._giving_up = False  # stopping the elector ourselves (SIGTERM, fence): no loss
        self._step_down: StepDown | None = None  # set with `_stepping_down`: give the lease up
        self._stepping_down = asyncio.Event()
        self._failed_starts = 0  # in a row; a start that gets the engine running resets it
        self._token_floor: TokenFloor | None = None
        self._floor_failing_since: float | None = None  # monotonic; None while it reads fine
        self._background = BackgroundTasks("session runner", log)
        self._one_shot = OneShotRestore(settings.restore_from, None)
        self._outbound = SessionOutbound(
            settings.namespace,
            settings.pod_name,
            lambda: self._engine,
            account=settings.account_name,
            phone=settings.phone_number,
            media=MediaFetcher(
                allowed=parse_networks(settings.media_allowed_networks),
                timeout_s=settings.media_timeout_seconds,
            ),
        )
        self._wiring_problem: str | None = None  # last one logged, so it is logged once

    # ------------------------------------------------------------ snapshots

    def use_snapshots(self, restore: SnapshotHook, snapshot: SnapshotHook) -> None:
        """Install the snapshot layer's hooks (built with this runner's callbacks below)."""
        self._restore, self._snapshots.hook = restore, snapshot

    def use_token_floor(self, floor: TokenFloor) -> None:
        """Install the fencing token floor (`runner.floor.combined_floor`): every claim of
        the lease takes a token at least this high, so a re-created Lease never hands out a
        token storage already refuses."""
        self._token_floor = floor
        self.elector.token_floor = self._proven_floor

    async def _proven_floor(self) -> int:
        """The installed floor; a failure is reported (Failed, no token: we hold no lease)
        and timed for liveness, then raised so the elector does not claim this round."""
        assert self._token_floor is not None
        try:
            floor = await self._token_floor()
        except Exception as error:
            if self._floor_failing_since is None:
                self._floor_failing_since = time.monotonic()
            message = (
                f"cannot read the fencing token floor ({describe_error(error)}): "
                "not claiming the lease until it can be read"
            )
            if (self._phase, self._message) != (RunnerPhase.FAILED, message):
                self._background.spawn(self._report(RunnerPhase.FAILED, message))
            raise
        self._floor_failing_since = None
        return floor

    def use_verify(self, verify: VerifyHook) -> None:
        """Install the snapshot layer's verify hook (snapshotter.build_verify_hook)."""
        self._verifier.hook = verify

    def quiesce(self) -> contextlib.AbstractAsyncContextManager[None]:
        """The running engine's quiesce (close, copy, relaunch); nothing to hold without one."""
        engine = self._engine
        return engine.quiesce() if engine is not None else contextlib.nullcontext()

    def on_snapshot(self, result: SnapshotResult) -> None:
        """The snapshot layer finished one: the next report carries it."""
        self._snapshots.record(result)

    def use_restore_request(self, one_shot: OneShotRestore) -> None:
        """Read spec.restoreFrom's request from the account (main.py); default: once per process."""
        self._one_shot = one_shot

    async def restore_target(self) -> str | None:
        """Which snapshot the restore hook restores now (None: the latest)."""
        return await self._one_shot.target()

    async def named_snapshots(self) -> set[str]:
        """The snapshots the account's spec names now: garbage collection keeps them."""
        return await self._one_shot.named()

    def on_restore(self, result: RestoreResult | None) -> None:
        rolled_back = self._one_shot.restored(result.snapshot_id if result is not None else None)
        # A session rolled back to spec.restoreFrom is not what the store's latest holds:
        # snapshot it once connected (as a fresh login), or the next start would restore
        # the state the person just rolled back from.
        self._snapshots.restored = result is not None and not rolled_back
        if result is not None and result.warning:
            self._snapshots.error = result.warning

    # ------------------------------------------------------------ probes

    def alive(self) -> bool:
        """Liveness: the lease loop is not stuck, and starting has not failed for good
        (`startup.start_healthy`: N failed starts in a row, or an unreadable token floor)."""
        since = self._floor_failing_since
        # Only while the floor is what stops us: not once another runner holds a live lease
        # (the floor is not asked then, so `since` would never be cleared).
        blocking = since is not None and self.elector.verdict() is Verdict.MAY_ACQUIRE
        failing_for = time.monotonic() - since if blocking and since is not None else None
        return self.elector.check(LIVENESS_TOLERANCE_S) and start_healthy(
            self._failed_starts, failing_for, self.settings.lease_retry_period_seconds
        )

    def consuming_outbound(self) -> bool:
        """Whether a session pool's queue is being consumed (or a halted consumer settles)."""
        return self._outbound.active

    def ready(self) -> bool:
        engine = self._engine
        return self.elector.is_leader and engine is not None and engine.ready

    # ------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> int:
        """Compete, lead, lose … until `stop` (SIGTERM) or a fencing event; then shut down cleanly."""
        await self._report(RunnerPhase.STANDBY, "waiting for the lease")
        watcher = asyncio.create_task(self._watch_annotations(), name="annotations-watch")
        while True:
            elector_task = asyncio.create_task(
                self.elector.run(on_started_leading=self._lead, on_stopped_leading=self._lost),
                name="elector",
            )
            stopping = asyncio.create_task(stop.wait())
            fenced = asyncio.create_task(self._fenced.wait())
            stepping = asyncio.create_task(self._stepping_down.wait())
            await asyncio.wait(
                {elector_task, stopping, fenced, stepping}, return_when=asyncio.FIRST_COMPLETED
            )
            await self._shutdown_session(
                graceful=not self._fenced.is_set() and not self._stepping_down.is_set()
            )
            # Cancelling the elector stops renewal, but the lease stays ours until release()
            # (or until it expires): the final report still carries the token we hold.
            held = self.elector.fencing_token
            self._giving_up = True
            for task in (elector_task, stopping, fenced, stepping):
                task.cancel()
            results = await asyncio.gather(
                elector_task, stopping, fenced, stepping, return_exceptions=True
            )
            self._giving_up = False
            step, self._step_down = self._step_down, None
            self._stepping_down.clear()
            if stop.is_set():
                # Report while the lease is still ours, so no successor's report can be
                # overwritten by this one after it took over.
                self._token = held
                await self._report(RunnerPhase.STOPPED, "runner stopped")
                released = await self.elector.release()
                self._token = None
                metrics.holding(None)
                log.info("lease released" if released else "lease not released (not ours)")
                break
            if step is not None and not self._fenced.is_set():
                # A leader that cannot lead lets go: report why while the lease is still
                # ours (with the token, so the operator takes it), release, pause, compete.
                self._token = held
                await self._report(step.phase, step.message)
                released = await self.elector.release()
                self._token = None
                metrics.holding(None)
                log.info("lease released" if released else "lease not released (not ours)")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), step.pause)
                if stop.is_set():
                    await self._report(RunnerPhase.STOPPED, "runner stopped")
                    break
                continue
            if not self._fenced.is_set():
                # The elector itself failed (a bug, a garbled answer): never give up the
                # account for that. The engine is already stopped; compete again.
                log.error("lease loop ended unexpectedly (%r); competing again", results[0])
                self._token = None
                await self._report(RunnerPhase.STANDBY, "lease loop restarted after an error")
                await asyncio.sleep(self.settings.lease_retry_period_seconds)
                continue
            self._token = held
            assert self._fence is not None  # set with `_fenced`
            await self._report(RunnerPhase.FENCED, self._fence.message)  # ours: with the token
            released = await self.elector.release()
            metrics.holding(None)
            log.info("lease released" if released else "lease not released (not ours)")
            self._token = None
            # Stay up for incident work; compete again only if a person lifts the fence.
            if not await self._wait_for_unfence(stop):
                break
        # The final report is written; what is still in flight (a snapshot hung on its
        # store, a late report) must not keep the process past its grace period.
        watcher.cancel()
        await asyncio.gather(watcher, self._background.cancel_and_wait(), return_exceptions=True)
        return 0

    async def _lead(self, token: int) -> None:
        """We hold the lease: restore, start the engine, follow its events."""
        self._token = self._last_token = token
        self._floor_failing_since = None  # it was read: we claimed with it
        self._login_qr = None
        metrics.holding(token)
        reassert = asyncio.create_task(self._reassert_periodically(token), name="reassert")
        periodic: asyncio.Task[None] | None = None
        try:
            await self._report(RunnerPhase.RESTORING, f"lease acquired with fencing token {token}")
            try:
                await self._restore(self._state_dir, token)
                engine = self._engine_factory()
                self._engine = engine
                await engine.start(self.settings.session_dir)
            except Exception as error:
                self._start_failed(error)
                return
            self._failed_starts = 0
            periodic = asyncio.create_task(self._snapshots.periodically(token), name="snapshots")
            async for event in engine.events():
                await self._on_event(event)
        finally:
            reassert.cancel()
            if periodic is not None:
                periodic.cancel()

    def _start_failed(self, error: Exception) -> None:
        """Restore or engine start raised: no engine may be left half started, and the
        lease must not be kept without one. `run()` reports, releases and backs off."""
        engine = self._let_go_of_engine()
        if engine is not None:
            engine.kill()
        self._failed_starts += 1
        pause = start_backoff(self._failed_starts, self.settings.lease_retry_period_seconds)
        reason = describe_error(error)
        metrics.START_FAILED.inc()
        log.error(
            "session start failed (%d in a row): %s; releasing the lease",
            self._failed_starts,
            reason,
        )
        self._request_step_down(
            StepDown(
                RunnerPhase.FAILED, failed_start_message(reason, self._failed_starts, pause), pause
            )
        )

    def _fenced_out(self, token: int, error: FencedOutError) -> None:
        """Storage refused `token`: kill the engine now, then (in `run()`) report why, release
        the lease and compete again at once; the token floor makes the next claim's token
        higher than storage's. Synchronous up to the kill, like `_lost()`."""
        reason = " ".join(str(error).split())[:200]
        log.error("storage refused our fencing token %s (%s): stopping the engine", token, reason)
        self._snapshots.error = f"storage refused fencing token {token}: {reason}"
        engine = self._let_go_of_engine()
        if engine is not None:
            engine.kill()
        if self._token != token:
            return  # that leadership is already over; the elector competes again by itself
        metrics.LEASE_LOST.inc()
        self._request_step_down(
            StepDown(
                RunnerPhase.STANDBY,
                f"storage refused fencing token {token} ({reason}): lease released, "
                "competing again for a higher token",
                0.0,
            )
        )

    def _let_go_of_engine(self) -> Engine | None:
        """Drop the engine; the session pool's consumer sends through it, so it halts too."""
        self._outbound.halt()
        engine, self._engine = self._engine, None
        return engine

    def _request_step_down(self, step: StepDown) -> None:
        if self._step_down is None:  # the first reason wins; one release serves both
            self._step_down = step
        self._stepping_down.set()

    def _lost(self) -> None:
        """Synchronous on purpose: runs before any await once the renew deadline passes.

        The token is dropped before reporting: a report from a runner that lost the
        lease carries no token, so the operator can never take it over a successor's
        (and `report.decide_write` lets it replace only this runner's own report).
        When the runner stops the elector itself (SIGTERM, a fence), nothing was lost:
        `run()` writes the final report, with the token, before it releases.
        """
        engine = self._let_go_of_engine()
        if engine is not None:
            engine.kill()
        self._token = None
        metrics.holding(None)
        if self._giving_up:
            return
        metrics.LEASE_LOST.inc()
        self._background.spawn(self._report(RunnerPhase.STANDBY, "lease lost: engine stopped"))

    async def _on_event(self, event: EngineEvent) -> None:
        self._outbound.on_engine_event(event)
        if isinstance(event, QrCode):
            self._login_qr = event.payload
            await self._report(RunnerPhase.AWAITING_LOGIN, "scan the QR code")
        elif isinstance(event, LoggedIn | Connected):
            fresh_login = self._snapshots.fresh_login(
                event, awaiting_login=self._phase is RunnerPhase.AWAITING_LOGIN
            )
            self._login_qr = None
            if self._engine is not None and self._engine.ready:
                await self._report(RunnerPhase.CONNECTED, "session connected")
            if fresh_login and self._token is not None:
                self._background.spawn(self._snapshots.take_quietly(self._token))
        elif isinstance(event, Conflict):
            self.fence(Fence(FenceReason.CONFLICT, event.detail))
        elif isinstance(event, LoggedOut):
            await self._report(RunnerPhase.AWAITING_LOGIN, f"logged out: {event.reason}")
        elif isinstance(event, Disconnected) and not self._fenced.is_set():
            await self._report(RunnerPhase.DISCONNECTED, event.reason)
        else:
            log.debug("engine event %s", event.type)

    def fence(self, fence: Fence) -> None:
        """Stop now and do not compete again (a conflict, or the fenced annotation)."""
        if self._fenced.is_set():
            return
        metrics.FENCED.inc()
        self._fence = fence
        engine = self._let_go_of_engine()
        if engine is not None:
            engine.kill()
        self._fenced.set()
        log.warning("session fenced: %s", fence.message)

    async def _shutdown_session(self, *, graceful: bool) -> None:
        """Stop the engine while still leading, then take the final snapshot (graceful only).

        Both together get `stop_timeout_seconds` (the pod's grace period minus a
        margin): past it the engine is killed and the final snapshot abandoned, so
        the runner still releases the lease before the kubelet's SIGKILL. The
        previous snapshot stays the latest; an abandoned one never becomes it
        half-written (the pointer is written last, by compare-and-swap).
        """
        engine = self._let_go_of_engine()
        if engine is None:
            return
        if not graceful:
            engine.kill()
            return
        budget = self.settings.stop_timeout_seconds
        try:
            async with asyncio.timeout(budget):
                # Sends in flight settle in the ledger before the engine goes.
                await self._outbound.drain(budget / 2)
                await engine.stop()
                if self._token is not None:
                    # A refusal is handled by `take_quietly`; the lease is released either way.
                    await self._snapshots.take_quietly(self._token)
        except TimeoutError:
            engine.kill()
            self._snapshots.error = (
                f"final snapshot did not finish within {budget:g} s; the previous one stays latest"
            )
            log.error("%s", self._snapshots.error)

    async def _fenced_now(self) -> bool:
        assert self._annotations_probe is not None
        return is_fenced(await self._annotations_probe())

    async def _watch_annotations(self) -> None:
        """Poll the account's annotations: the fence, on-demand snapshot and verify requests.

        Which requests to serve is `requests.next_requests` (once per new value,
        by the leader; the values seen first count as served). A verification is
        spawned, not awaited: this loop also watches the fence and must keep
        polling.
        """
        if self._annotations_probe is None:
            return
        polled = False
        while True:
            if polled:  # every attempt but the first waits, a failed one too
                await asyncio.sleep(self.settings.lease_retry_period_seconds)
            polled = True
            try:
                annotations = await self._annotations_probe()
            except Exception as error:
                log.info("annotation probe failed: %s", type(error).__name__)
                continue
            if is_fenced(annotations):
                self.fence(Fence(FenceReason.ANNOTATION))
            token = self._token
            todo = next_requests(self._served, annotations, leading=token is not None)
            self._served = todo.served
            if todo.verify is not None:
                self._background.spawn(self._verifier.answer(todo.verify))
            self._consume_outbound(annotations)
            if todo.snapshot is not None and token is not None:
                log.info("on-demand snapshot requested (%s)", todo.snapshot)
                await self._snapshots.take_quietly(token)

    def _consume_outbound(self, annotations: Mapping[str, str]) -> None:
        """Consume the session pool's queue the operator annotated, while leading and ready."""
        wiring, problem = wiring_from_annotations(annotations)
        if problem is not None and problem != self._wiring_problem:
            log.warning("session pool not consumed: %s", problem)
        self._wiring_problem = problem
        engine = self._engine
        ready = engine is not None and engine.ready
        self._outbound.want(wanted_consumer(wiring, self._token, engine_ready=ready))

    async def _wait_for_unfence(self, stop: asyncio.Event) -> bool:
        """True when the fence was lifted (annotation removed); False on stop or a conflict."""
        assert self._fence is not None  # set with `_fenced`
        if not may_lift(
            self._fence.reason, can_read_annotations=self._annotations_probe is not None
        ):
            await stop.wait()
            return False
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.lease_retry_period_seconds)
            try:
                if not await self._fenced_now():
                    self._fenced.clear()
                    self._fence = None
                    await self._report(RunnerPhase.STANDBY, "fence lifted: competing for the lease")
                    return True
            except Exception as error:
                log.info("fence probe failed: %s", type(error).__name__)
        return False

    # ------------------------------------------------------------ reports

    async def _report_current(self) -> None:
        """Re-send the last phase with fresh snapshot facts."""
        await self._report(self._phase, self._message)

    async def _report(self, phase: RunnerPhase, message: str) -> WriteDecision | None:
        self._phase, self._message = phase, message
        return await self._send(refresh=False)

    async def _reassert_periodically(self, token: int) -> None:
        """While leading with `token`: every `report_interval_seconds`, make sure the
        account's status still says what we last reported, and write it again if not.

        The engine reports only on its events; a connected session may have none
        for hours. Without this, one lost write (an API server hiccup, a report
        that lost every conflict retry, a hand edit) would leave the account
        showing a stale phase until the next event.
        """
        while True:
            await asyncio.sleep(self.settings.report_interval_seconds)
            if self._token != token:
                return
            await self._send(refresh=True)

    async def _send(self, *, refresh: bool) -> WriteDecision | None:
        """Write the current facts (None: the write failed; the next report or re-assert retries).

        Reports go one at a time and each takes the facts when its turn comes,
        so an older report can never land after a newer one of this runner.
        """
        async with self._report_lock:
            facts = RunnerFacts(
                phase=self._phase,
                holder=self.identity,
                fencing_token=self._token,
                login_qr=self._login_qr if self._phase is RunnerPhase.AWAITING_LOGIN else None,
                message=self._message,
                last_snapshot=self._snapshots.last,
                snapshot_error=self._snapshots.error,
                last_verify=self._verifier.last,
                last_token=self._last_token,
                restored_from=self._one_shot.report,
            )
            try:
                return await self._reporter.report(facts, refresh=refresh)
            except Exception as error:  # a report is best effort; the lease is what protects
                log.info("status report failed: %s", type(error).__name__)
                return None
