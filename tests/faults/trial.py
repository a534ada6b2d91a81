"""One randomized fault trial, and many of them in parallel.

    with Stores() as stores:
        results = run_trials(range(20), stores, workers=2)
    assert all(r.ok for r in results), [r.describe() for r in results if not r.ok]

A trial (seed -> `plan()` -> `run_trial()`):

1. Three runner processes r0..r2 (`python -m tests.faults.shim session`, the
   real runner plus a journal) compete for one fresh account's lease with
   short timings (2 s / 1.4 s / 0.3 s), on a real kube-apiserver's
   coordination.k8s.io/v1 Lease (even seeds) or moto's DynamoDB (odd seeds),
   through a `FaultProxy`. On Kubernetes the account, its Lease, ServiceAccount,
   Role and RoleBinding are made by the operator's own builders, and the runners
   authenticate with that ServiceAccount's TokenRequest token: they work with
   exactly the RBAC the operator gives a runner pod.
2. Once one of them is active, the seeded schedule runs for a few seconds:
   proxy fault windows (latency, timeouts that land late, 409s, 500s,
   dropped requests, dropped responses), SIGSTOP/SIGCONT pauses longer than
   the lease, SIGKILL (+ restart), and wall-clock jumps both ways in chosen
   runners (the shim moves their `datetime.now()`).
3. Heal: faults off, every paused runner continued, every killed runner
   restarted. Then wait until exactly one live runner is active (liveness,
   bounded by 3 x lease duration + a runner's start-up time), watch for
   `SETTLE_S` more, and stop everyone with SIGTERM.
4. Checks: overlaps of live intervals between runner processes
   (`activity.find_overlaps`), stale status writes the operator's rule
   would accept (`stale_writes`), and the healing time.

Status writes come from the proxy on Kubernetes (every PATCH of the
account's status subresource the API server accepted). With DynamoDB the
runners write status files (one each; the runner writes no fenced items
yet), so the shim's journal of successful file writes from all three is
replayed as if they had gone to one store.

Wall time is used by the runner only for the informational acquire/renew
timestamps and reportedAt; the shim's wall jumps in real processes check
that nothing else depends on it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
import yaml

from tests.faults.activity import (
    Overlap,
    find_overlaps,
    intervals,
    live_pieces,
    wake_to_kill,
)
from tests.faults.proxy import FaultKind, FaultProxy, Window
from tests.faults.rbac import wait_until_allowed
from wafleet_operator.status import runner_report_is_current

if TYPE_CHECKING:
    from tests.harness.control_plane import ControlPlane

REPO = Path(__file__).resolve().parents[2]
Backend = Literal["kubernetes", "dynamodb"]

# client-go's ordering holds: 2 > 1.4 > 1.2 x 0.3.
LEASE_DURATION_S = 2.0
RENEW_DEADLINE_S = 1.4
RETRY_PERIOD_S = 0.3
RUNNERS = 3
FAULT_PHASE_S = 4.0
#: A runner process needs this long to import its libraries and read the lease (2 loaded cores).
STARTUP_ALLOWANCE_S = 6.0
#: Liveness bound after healing: a full lease duration to see a silent holder expire, twice
#: more for retries and late-landing writes, plus a restarted runner's start-up.
HEAL_BOUND_S = 3 * LEASE_DURATION_S + STARTUP_ALLOWANCE_S
SETTLE_S = 1.0
#: Event-loop ticks a runner woken by SIGCONT may take before it kills its engine (see activity).
WAKE_GRACE_S = 0.25
KINDS: tuple[FaultKind, ...] = (
    "latency",
    "timeout",
    "conflict",
    "status500",
    "drop_request",
    "drop_response",
)


# ------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class ProcessFault:
    """SIGSTOP for `seconds` (then SIGCONT), or SIGKILL and restart after `seconds`.

    `target` is a runner index, or -1: whichever runner is active when it fires.
    """

    kind: Literal["pause", "kill"]
    at: float
    seconds: float
    target: int


@dataclass(frozen=True)
class Plan:
    """Everything random about a trial, derived from its seed alone."""

    seed: int
    backend: Backend
    windows: tuple[Window, ...]  # times relative to the start of the fault phase
    process_faults: tuple[ProcessFault, ...]
    wall_jumps: tuple[str, ...]  # per runner, the shim's WAFLEET_FAULTS_WALL_JUMPS


def plan(seed: int) -> Plan:
    """The fault schedule for `seed` (reproducible: same seed, same schedule)."""
    rng = random.Random(seed)
    backend: Backend = "kubernetes" if seed % 2 == 0 else "dynamodb"
    windows = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(KINDS)
        start = rng.uniform(0, FAULT_PHASE_S - 0.5)
        delay = 0.0
        if kind == "latency":
            delay = rng.uniform(0.05, 1.0)
        elif kind == "timeout":
            delay = rng.uniform(1.5, 3.0)  # longer than the renew deadline: the runner gave up
        windows.append(
            Window(
                kind=kind,
                start=start,
                end=min(FAULT_PHASE_S, start + rng.uniform(0.5, 3.0)),
                probability=rng.choice((0.3, 0.6, 1.0)),
                delay=delay,
            )
        )
    faults = []
    for _ in range(rng.randint(0, 2)):
        signal_kind: Literal["pause", "kill"] = rng.choice(("pause", "kill"))
        target = -1 if rng.random() < 0.7 else rng.randrange(RUNNERS)
        at = rng.uniform(0, FAULT_PHASE_S - 1)
        seconds = (
            rng.uniform(LEASE_DURATION_S + 0.5, 2 * LEASE_DURATION_S)
            if signal_kind == "pause"
            else rng.uniform(0, 1.5)
        )
        faults.append(ProcessFault(signal_kind, at, seconds, target))
    jumps = []
    for _ in range(RUNNERS):
        if rng.random() < 0.5:
            jumps.append("")
            continue
        pairs = [
            f"{rng.uniform(0.5, 8):.2f}:{rng.choice((-1, 1)) * rng.uniform(60, 86_400):.0f}"
            for _ in range(rng.randint(1, 3))
        ]
        jumps.append(",".join(pairs))
    return Plan(
        seed, backend, tuple(windows), tuple(sorted(faults, key=lambda f: f.at)), tuple(jumps)
    )


# ------------------------------------------------------------------ the stores


class Stores:
    """The lease stores every trial shares: one real control plane and one moto server.

    `plane`: a running control plane to use (the pytest session's); without one,
    `Stores` starts its own in a temporary folder and stops it on exit (the bench).
    The trials live in a namespace of their own with the wafleet CRDs applied,
    deleted on exit. Trials never share a lease: each has its own account (and so
    its own Lease / item).
    """

    def __init__(self, plane: ControlPlane | None = None) -> None:
        self._stack = ExitStack()
        self._given = plane
        self.plane: ControlPlane | None = None
        self.namespace = f"lease-trials-{os.getpid()}-{random.randrange(16**6):06x}"
        self.aws_url = ""

    def __enter__(self) -> Stores:
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _open(self) -> None:
        from session_runner.session.lease.dynamodb import ensure_table
        from tests.harness.devserver import MotoServer
        from tests.harness.kube import apply_crds, crd_documents

        self.plane = self._given or self._start_plane()
        with self.admin() as http:
            # Only the missing ones: a session's `wafleet_crds` fixture may have applied
            # them already, and replacing an Established CRD needlessly restarts its
            # naming checks under the other tests.
            crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
            missing = [
                crd
                for crd in crd_documents()
                if http.get(f"{crds}/{crd['metadata']['name']}").status_code == 404
            ]
        if missing:
            apply_crds(self.plane, missing)
        with self.admin() as http:
            _ok(http.post("/api/v1/namespaces", json={"metadata": {"name": self.namespace}}))
        self._stack.callback(self._delete_namespace)
        moto = self._stack.enter_context(MotoServer())
        self.aws_url = moto.endpoint_url
        import boto3

        ensure_table(boto3.client("dynamodb", **moto.client_kwargs()), "wafleet-leases")

    def _start_plane(self) -> ControlPlane:
        from tests.harness.control_plane import find_assets, start_control_plane

        assets = find_assets()
        if isinstance(assets, str):
            raise RuntimeError(f"no real Kubernetes control plane: {assets}")
        folder = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="trials-plane-"))
        plane = start_control_plane(assets, Path(folder) / "plane")
        self._stack.callback(plane.stop)
        return plane

    def _delete_namespace(self) -> None:
        with self.admin() as http:
            http.delete(f"/api/v1/namespaces/{self.namespace}")

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def admin(self) -> httpx.Client:
        """An admin client of the API server (client certificate)."""
        assert self.plane is not None
        return httpx.Client(base_url=self.plane.url, verify=self.plane.ssl_context(), timeout=10)

    def create_account(self, name: str, extra_leases: Iterable[str] = ()) -> str:
        """Account `name` and the children the operator makes for its runner: ServiceAccount,
        Role, RoleBinding (the operator's builders) and its Lease; returns a TokenRequest
        token of that ServiceAccount once RBAC lets it renew the Lease.

        `extra_leases`: more Leases for the same runners (the naive baseline's, one per
        runner), made and granted like the account's own.
        """
        from wafleet_operator.api import WhatsAppAccountSpec
        from wafleet_operator.specs.account import AccountRef, object_meta
        from wafleet_operator.specs.lease import build_lease
        from wafleet_operator.specs.naming import child_name
        from wafleet_operator.specs.rbac import (
            build_role,
            build_role_binding,
            build_service_account,
        )

        assert self.plane is not None
        assert self.plane.pki is not None
        ns = self.namespace
        body = {
            "apiVersion": "wafleet.io/v1alpha1",
            "kind": "WhatsAppAccount",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"phoneNumber": "+15550100001", "engine": "local"},
        }
        rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
        leases = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
        with self.admin() as http:
            created = _ok(
                http.post(f"/apis/wafleet.io/v1alpha1/namespaces/{ns}/whatsappaccounts", json=body)
            )
            account = AccountRef.from_metadata(created["metadata"])
            spec = WhatsAppAccountSpec.model_validate(created["spec"])
            role = build_role(account)
            for extra in extra_leases:
                role["rules"].append(
                    {
                        "apiGroups": ["coordination.k8s.io"],
                        "resources": ["leases"],
                        "resourceNames": [extra],
                        "verbs": ["get", "update", "patch"],
                    }
                )
            lease = build_lease(account, spec)
            _ok(
                http.post(
                    f"/api/v1/namespaces/{ns}/serviceaccounts", json=build_service_account(account)
                )
            )
            _ok(http.post(f"{rbac}/roles", json=role))
            _ok(http.post(f"{rbac}/rolebindings", json=build_role_binding(account)))
            _ok(http.post(leases, json=lease))
            for extra in extra_leases:
                _ok(http.post(leases, json={**lease, "metadata": object_meta(account, extra)}))
            own = child_name(name)
            token = self.plane.token_for(ns, own)
        with httpx.Client(
            base_url=self.plane.url,
            verify=ssl.create_default_context(cafile=str(self.plane.pki.ca_cert)),
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ) as http:
            for lease_name in (own, *extra_leases):
                wait_until_allowed(http, ns, "coordination.k8s.io", "leases", "patch", lease_name)
        return str(token)


def _ok(answer: httpx.Response) -> dict[str, Any]:
    """The JSON of a successful answer; else an error carrying the server's message."""
    if answer.status_code >= 300:
        raise RuntimeError(f"{answer.request.method} {answer.request.url.path}: {answer.text}")
    return dict(answer.json())


# ------------------------------------------------------------------ the result


@dataclass
class TrialResult:
    """What one trial measured; `ok` is the verdict the tests and the bench count."""

    seed: int
    backend: Backend
    overlaps: list[Overlap] = field(default_factory=list)
    stale_writes: int = 0  # reports with a token below one already acquired when they landed
    stale_writes_accepted: int = 0  # ... that the operator's rule would still have accepted
    stale_accepted_details: list[str] = field(default_factory=list)
    healed: bool = False
    heal_seconds: float | None = None
    seconds: float = 0.0
    wake_to_kill_max: float = 0.0
    proxy_hits: dict[str, int] = field(default_factory=dict)
    timeline: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and not self.overlaps
            and self.stale_writes_accepted == 0
            and self.healed
        )

    def describe(self) -> str:
        """One failing trial, reproducible by its seed (`plan(seed)`), with its timeline."""
        lines = [
            f"seed={self.seed} backend={self.backend} overlaps={len(self.overlaps)} "
            f"stale_accepted={self.stale_writes_accepted} "
            f"healed={self.healed} heal_s={self.heal_seconds} error={self.error}",
            *(f"  overlap {o.first} / {o.second} for {o.seconds:.3f}s" for o in self.overlaps),
            *(f"  stale write accepted: {line}" for line in self.stale_accepted_details),
            *(f"  {line}" for line in self.timeline),
        ]
        return "\n".join(lines)


# ------------------------------------------------------------------ running one trial


@dataclass
class _Slot:
    """One runner position (r0..r2): its current process and what was done to it."""

    name: str
    process: subprocess.Popen[bytes] | None = None
    stopped_at: float | None = None
    restart_at: float | None = None


class _Trial:
    def __init__(self, p: Plan, stores: Stores, workdir: Path, *, naive: bool = False) -> None:
        self.plan = p
        self.naive = naive
        self.stores = stores
        self.dir = workdir
        self.account = f"{'n' if naive else 't'}{p.seed}"
        self.activity = workdir / "activity.jsonl"
        self.journal = workdir / "journal.jsonl"
        self.slots = [_Slot(f"r{i}") for i in range(RUNNERS)]
        self.killed_at: dict[str, list[float]] = {}
        self.frozen: dict[str, list[tuple[float, float]]] = {}
        self.origin = time.monotonic()
        self.timeline: list[str] = []
        if p.backend == "kubernetes":
            assert stores.plane is not None, "Stores is not open"
            self.proxy = FaultProxy.for_control_plane(stores.plane, p.seed)
        else:
            self.proxy = FaultProxy(stores.aws_url, p.backend, p.seed)

    def note(self, what: str) -> None:
        self.timeline.append(f"{time.monotonic() - self.origin:7.3f} {what}")

    # -------------------------------------------------------- processes

    def env(self, index: int) -> dict[str, str]:
        name = self.slots[index].name
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("WAFLEET_", "AWS_", "KUBE"))
            },
            "PYTHONPATH": str(REPO),
            "WAFLEET_ACCOUNT_NAME": self.account,
            "WAFLEET_NAMESPACE": self.stores.namespace,
            "WAFLEET_PHONE_NUMBER": "+15550100001",
            "WAFLEET_ENGINE": "local",
            "WAFLEET_POD_NAME": name,
            "WAFLEET_LEASE_BACKEND": self.plan.backend,
            "WAFLEET_LEASE_DURATION_SECONDS": str(LEASE_DURATION_S),
            "WAFLEET_LEASE_RENEW_DEADLINE_SECONDS": str(RENEW_DEADLINE_S),
            "WAFLEET_LEASE_RETRY_PERIOD_SECONDS": str(RETRY_PERIOD_S),
            "WAFLEET_SESSION_DIR": str(self.dir / name / "session"),
            "WAFLEET_HEALTH_PORT": "0",
            "WAFLEET_METRICS_PORT": "0",
            "WAFLEET_LOG_LEVEL": "INFO",
            "WAFLEET_LOCAL_ENGINE_AUTO_LOGIN_AFTER_S": "0",
            "WAFLEET_LOCAL_ENGINE_ACTIVITY_LOG": str(self.activity),
            "WAFLEET_FAULTS_JOURNAL": str(self.journal),
            "WAFLEET_FAULTS_WALL_JUMPS": self.plan.wall_jumps[index],
        }
        if self.naive:  # the baseline: every runner its own lease, i.e. no exclusion at all
            env["WAFLEET_LEASE_NAME"] = self.naive_lease(name)
        if self.plan.backend == "kubernetes":
            env["KUBECONFIG"] = str(self.dir / "kubeconfig")
        else:
            env["WAFLEET_STATUS_FILE"] = str(self.dir / name / "status.json")
            env.update(
                AWS_ENDPOINT_URL=self.proxy.url,
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
                AWS_DEFAULT_REGION="us-east-1",
            )
        return env

    def naive_lease(self, runner: str) -> str:
        return f"naive-{self.account}-{runner}"

    def start(self, index: int) -> None:
        slot = self.slots[index]
        log = (self.dir / f"{slot.name}.log").open("ab")
        slot.process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.shim", "session"],
            env=self.env(index),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        slot.stopped_at = slot.restart_at = None
        self.note(f"start {slot.name} pid={slot.process.pid}")

    def pause(self, index: int) -> None:
        slot = self.slots[index]
        if slot.process is None or slot.process.poll() is not None or slot.stopped_at:
            return
        slot.process.send_signal(signal.SIGSTOP)
        _wait_stopped(slot.process.pid)
        slot.stopped_at = time.monotonic()  # frozen from here at the latest
        self.note(f"SIGSTOP {slot.name} pid={slot.process.pid}")

    def resume(self, index: int) -> None:
        slot = self.slots[index]
        if slot.process is None or slot.stopped_at is None:
            return
        cont = time.monotonic()  # frozen until here at least: it cannot run before SIGCONT
        self.frozen.setdefault(str(slot.process.pid), []).append((slot.stopped_at, cont))
        slot.stopped_at = None
        slot.process.send_signal(signal.SIGCONT)
        self.note(f"SIGCONT {slot.name} pid={slot.process.pid}")

    def kill(self, index: int, restart_after: float) -> None:
        slot = self.slots[index]
        process = slot.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        now = time.monotonic()  # dead by now: its engine's interval ends here at the latest
        pid = str(process.pid)
        self.killed_at.setdefault(pid, []).append(now)
        if slot.stopped_at is not None:
            self.frozen.setdefault(pid, []).append((slot.stopped_at, now))
            slot.stopped_at = None
        slot.restart_at = now + restart_after
        self.note(f"SIGKILL {slot.name} pid={pid} (restart in {restart_after:.2f}s)")

    def active_pids(self) -> set[str]:
        spans = intervals(self.activity, key="pid")
        dead = set(self.killed_at)
        return {pid for pid, mine in spans.items() if mine and mine[-1][1] is None} - dead

    def active_index(self) -> int | None:
        pids = self.active_pids()
        for i, slot in enumerate(self.slots):
            if slot.process is not None and str(slot.process.pid) in pids:
                return i
        return None

    # -------------------------------------------------------- the trial

    def run(self) -> TrialResult:
        result = TrialResult(self.plan.seed, self.plan.backend)
        started = time.monotonic()
        self.proxy.start()
        try:
            self.prepare()
            for i in range(RUNNERS):
                self.start(i)
            if not _wait(lambda: bool(self.active_pids()), 3 * STARTUP_ALLOWANCE_S):
                raise RuntimeError("no runner became active before any fault")
            self.faults()
            healed_at = self.heal()
            result.healed = _wait(self.one_live_active, HEAL_BOUND_S)
            if result.healed:
                result.heal_seconds = time.monotonic() - healed_at
                self.note(f"healed: one runner active after {result.heal_seconds:.2f}s")
            time.sleep(SETTLE_S)
        except Exception as error:
            result.error = f"{type(error).__name__}: {error}"
        finally:
            end = self.shutdown()
            self.proxy.stop()
        self.check(result, end)
        result.seconds = time.monotonic() - started
        result.timeline = self.timeline
        return result

    def prepare(self) -> None:
        """On Kubernetes: the account as the operator sets it up, and the runners' kubeconfig
        (the proxy, plain HTTP, with the account's ServiceAccount token)."""
        if self.plan.backend != "kubernetes":
            return
        extra = [self.naive_lease(slot.name) for slot in self.slots] if self.naive else []
        token = self.stores.create_account(self.account, extra_leases=extra)
        namespace = self.stores.namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": self.proxy.url}}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [
                {"name": "c", "context": {"cluster": "c", "user": "u", "namespace": namespace}}
            ],
            "current-context": "c",
        }
        (self.dir / "kubeconfig").write_text(yaml.safe_dump(config))

    def faults(self) -> None:
        """Run the plan's schedule from now (the start of the fault phase)."""
        t0 = time.monotonic()
        self.note("fault phase begins")
        for w in self.plan.windows:
            self.proxy.add(Window(w.kind, t0 + w.start, t0 + w.end, w.probability, w.delay, w.path))
            self.note(
                f"window {w.kind} +{w.start:.2f}..+{w.end:.2f}s p={w.probability} "
                f"delay={w.delay:.2f}"
            )
        events: list[tuple[float, str, int, float]] = []
        for f in self.plan.process_faults:
            events.append((t0 + f.at, f.kind, f.target, f.seconds))
        while events:
            events.sort()
            when, kind, target, seconds = events.pop(0)
            _sleep_until(when)
            index = self.active_index() if target < 0 else target
            if index is None:
                index = random.Random(self.plan.seed + len(events)).randrange(RUNNERS)
            if kind == "pause":
                self.pause(index)
                events.append((time.monotonic() + seconds, "cont", index, 0.0))
            elif kind == "cont":
                self.resume(index)
            elif kind == "kill":
                self.kill(index, seconds)
                events.append((time.monotonic() + seconds, "restart", index, 0.0))
            elif kind == "restart" and self.slots[index].restart_at is not None:
                self.start(index)
        _sleep_until(t0 + FAULT_PHASE_S)

    def heal(self) -> float:
        self.proxy.heal()
        for i, slot in enumerate(self.slots):
            if slot.stopped_at is not None:
                self.resume(i)
            if slot.process is None or slot.process.poll() is not None:
                self.start(i)
        self.note("healed everything")
        return time.monotonic()

    def one_live_active(self) -> bool:
        """Exactly one runner process active, and it is running (not stopped, not dead)."""
        pids = self.active_pids()
        live = {
            str(s.process.pid)
            for s in self.slots
            if s.process is not None and s.process.poll() is None and s.stopped_at is None
        }
        return len(pids) == 1 and pids <= live

    def shutdown(self) -> float:
        """SIGTERM everyone (continued first), wait, SIGKILL stragglers; returns the end time."""
        for i in range(RUNNERS):
            self.resume(i)
        end = time.monotonic()
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                slot.process.send_signal(signal.SIGTERM)
        for i, slot in enumerate(self.slots):
            if slot.process is None:
                continue
            try:
                slot.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill(i, 0.0)
        return max(end, time.monotonic())

    # -------------------------------------------------------- the checks

    def run_checks(self, end: float) -> TrialResult:
        """The checks alone, for tests that drive a trial's steps themselves."""
        result = TrialResult(self.plan.seed, self.plan.backend)
        self.check(result, end)
        result.timeline = self.timeline
        return result

    def check(self, result: TrialResult, end: float) -> None:
        spans = intervals(self.activity, key="pid")
        pieces = live_pieces(spans, killed_at=self.killed_at, frozen=self.frozen, end_of_trial=end)
        result.overlaps = find_overlaps(pieces, wake_grace=WAKE_GRACE_S)
        result.wake_to_kill_max = max(wake_to_kill(pieces), default=0.0)
        records = _read_journal(self.journal)
        o = self.origin  # timeline times are seconds since the trial began
        acquisitions = [(r["t"] - o, int(r["token"])) for r in records if r["kind"] == "acquired"]
        for r in records:
            if r["kind"] == "acquired":
                self.note_at(r["t"], f"{r['pod']} pid={r['pid']} acquired token {r['token']}")
        writes: list[tuple[float, float, Any, str]]
        if self.plan.backend == "kubernetes":
            writes = [
                (
                    w.forwarded - o,
                    w.answered - o,
                    w.runner.get("fencingToken"),
                    f"{w.runner.get('holder')}:{w.runner.get('phase')}",
                )
                for w in self.proxy.status_writes
            ]
        else:
            writes = [
                (r["sent"] - o, r["done"] - o, r["token"], f"{r['pod']}:{r['phase']}")
                for r in records
                if r["kind"] == "report" and r["ok"]
            ]
        for earliest, _latest, token, phase in writes:
            self.timeline.append(f"{earliest:7.3f} status write {phase} token={token}")
        stale, accepted_stale = stale_writes(writes, acquisitions)
        result.stale_writes = stale
        result.stale_writes_accepted = len(accepted_stale)
        result.stale_accepted_details = accepted_stale
        result.proxy_hits = dict(self.proxy.hits)
        self.timeline.sort()

    def note_at(self, t: float, what: str) -> None:
        self.timeline.append(f"{t - self.origin:7.3f} {what}")


def stale_writes(
    writes: Iterable[tuple[float, float, Any, str]], acquisitions: list[tuple[float, int]]
) -> tuple[int, list[str]]:
    """(stale writes, one line per stale write the operator's rule would accept).

    `writes`: (earliest landing, latest landing, fencing token, phase) of every
    status write the store took. A write is stale when a higher token had
    already been acquired before it could have landed. The rule
    (`runner_report_is_current`) is replayed in landing order against the
    highest token it accepted so far, exactly as the operator keeps it.
    """
    accepted: int | None = None
    stale = 0
    accepted_stale: list[str] = []
    for earliest, latest, token, phase in sorted(writes, key=lambda w: w[1]):
        report = {"fencingToken": token}
        current = runner_report_is_current(report, accepted)
        before = accepted
        if current and isinstance(token, int):
            accepted = token if accepted is None else max(accepted, token)
        newer = [t for at, t in acquisitions if at < earliest]
        if isinstance(token, int) and newer and token < max(newer):
            stale += 1
            if current:
                accepted_stale.append(
                    f"{phase} token={token} landed in [{earliest:.3f}, {latest:.3f}] after "
                    f"token {max(newer)} was acquired; highest accepted report token: {before}"
                )
    return stale, accepted_stale


def _read_journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut by SIGKILL mid-write
    return out


def _wait_stopped(pid: int, timeout: float = 2.0) -> None:
    """Until /proc says the process is stopped (SIGSTOP is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("T", "t"):
            return
        time.sleep(0.002)


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)


# ------------------------------------------------------------------ many trials


def run_trial(seed: int, stores: Stores, root: Path, *, naive: bool = False) -> TrialResult:
    """Plan and run one trial in its own directory under `root`.

    `naive`: the baseline, runners that do not exclude each other (each has its
    own lease); the same checks must then find overlaps, or they prove nothing.
    """
    workdir = root / f"trial-{seed}{'-naive' if naive else ''}"
    workdir.mkdir(parents=True, exist_ok=True)
    return _Trial(plan(seed), stores, workdir, naive=naive).run()


def run_trials(
    seeds: Iterable[int],
    stores: Stores,
    *,
    workers: int = 2,
    root: Path | None = None,
    naive: bool = False,
) -> list[TrialResult]:
    """Run trials `workers` at a time (each is 3 runner processes of ~60 MB, mostly waiting)."""
    with ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lease-trials-")))
        base = root
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda s: run_trial(s, stores, base, naive=naive), seeds))


def trial_count(default: int) -> int:
    """WAFLEET_LEASE_TRIALS overrides how many trials run."""
    return int(os.environ.get("WAFLEET_LEASE_TRIALS") or default)


def trial_workers(default: int = 2) -> int:
    """WAFLEET_LEASE_TRIALS_WORKERS: trials at a time (2 suits 2 cores; each trial is 3 runners)."""
    return int(os.environ.get("WAFLEET_LEASE_TRIALS_WORKERS") or default)
