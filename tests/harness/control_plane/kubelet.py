"""A kubelet stand-in for wafleet's own pods, on the real control plane.

There is no kubelet here (no container runtime), so Pods the StatefulSet
controller creates would stay Pending forever. This stand-in does the part of
a kubelet wafleet depends on, for one namespace:

* registers a Node (Ready, with capacity) and renews its Lease in
  ``kube-node-lease`` as a kubelet's heartbeat does, so the real scheduler
  binds pods to it and the node lifecycle controller never evicts them;
* for each Pod bound to the node, starts the container as a local process with
  exactly what the pod spec declares (see podspec.py: env with downward-API
  fields and secretKeyRefs resolved from the real Secrets, Secret volumes
  written at the mount's place, ports mapped), authenticated as the pod's
  ServiceAccount by a TokenRequest token bound to the Pod, through a
  kubeconfig (in a pod the runner reads the projected token; here ``tokenFile``);
* reports the Pod ``Running`` and its ``Ready`` condition from the
  container's real readiness probe, through the Pod's status subresource,
  so the StatefulSet controller counts it;
* restarts a container that exits (restartPolicy Always), counting restarts;
* on Pod deletion sends SIGTERM, after the grace period SIGKILL, then removes
  the Pod (the final delete a kubelet makes), so the controller replaces it.

``run_duplicate(pod)`` starts a second process for the same pod: the
duplicated-pod case the Lease exists for (a partitioned node whose old pod
still runs while its replacement starts).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from .podspec import Launch, PodConfigError, build_launch, decode_secret
from .processes import ControlPlane, ControlPlaneError, free_port

NODE_NAME = "wafleet-test-node"
POLL_INTERVAL_S = 0.25
NODE_LEASE_RENEW_S = 10.0
RESTART_BACKOFF_S = 1.0

#: The images' /opt/venv/bin: where `wafleet-runner` and `wafleet-operator` are found.
IMAGE_BIN = Path(sys.executable).parent
#: Images whose entrypoint the stand-in knows (Dockerfile.runner's ENTRYPOINT; the
#: chart gives the operator's Deployment a `command`, found on the image's PATH).
ENTRYPOINTS = {
    "wafleet/runner": [str(IMAGE_BIN / "wafleet-runner")],
    "wafleet/operator": [str(IMAGE_BIN / "wafleet-operator")],
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class PodProcess:
    """One running container process of a pod (the pod's, or a duplicate's)."""

    pod: str
    uid: str
    launch: Launch
    process: subprocess.Popen[bytes]
    log_path: Path
    restarts: int = 0
    #: monotonic time the kubelet first saw the process gone (restart backoff)
    exited_at: float | None = None

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def alive(self) -> bool:
        return self.process.poll() is None

    def ready(self) -> bool:
        if not self.alive() or self.launch.readiness_url is None:
            return self.alive()
        try:
            with urllib.request.urlopen(self.launch.readiness_url, timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class Kubelet:
    """Runs the pods bound to NODE_NAME in `namespace` (None: every namespace); start() / stop()."""

    plane: ControlPlane
    namespace: str | None
    workdir: Path
    #: environment every container gets first (the image's ENV, e.g. AWS endpoints for tests)
    image_env: dict[str, str] = field(default_factory=dict)
    pods: dict[str, PodProcess] = field(default_factory=dict)
    duplicates: list[PodProcess] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _terminating: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Kubelet:
        self._http = httpx.Client(
            base_url=self.plane.url, verify=self.plane.ssl_context(), timeout=10
        )
        self._thread = threading.Thread(target=self._loop, name="kubelet", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            everyone = [*self.pods.values(), *self.duplicates]
        for proc in everyone:
            proc.signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.process.wait(timeout=5)
        self._http.close()

    # ------------------------------------------------------------ duplicates

    def run_duplicate(self, pod_name: str) -> PodProcess:
        """A second process for `pod_name`, from the same spec (the duplicated-pod case)."""
        namespace, _, name = pod_name.rpartition("/")
        pod = self._http.get(f"/api/v1/namespaces/{namespace or self.namespace}/pods/{name}")
        pod.raise_for_status()
        proc = self._launch(pod.json(), suffix=f"duplicate-{len(self.duplicates) + 1}")
        with self._lock:
            self.duplicates.append(proc)
        return proc

    # ------------------------------------------------------------ the loop

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync()
            except Exception as error:  # a failed round is retried; the test sees `errors`
                self.errors.append(repr(error))
            self._stop.wait(POLL_INTERVAL_S)

    def _sync(self) -> None:
        scope = f"/namespaces/{self.namespace}" if self.namespace else ""
        listing = self._http.get(
            f"/api/v1{scope}/pods",
            params={"fieldSelector": f"spec.nodeName={NODE_NAME}"},
        )
        listing.raise_for_status()
        seen: set[str] = set()
        for pod in listing.json().get("items", []):
            name = self._key(pod)
            seen.add(name)
            if pod["metadata"].get("deletionTimestamp"):
                if name not in self._terminating:
                    self._terminating.add(name)
                    threading.Thread(
                        target=self._terminate, args=(pod,), name=f"kill-{name}", daemon=True
                    ).start()
                continue
            running = self.pods.get(name)
            if running is not None and running.uid != pod["metadata"]["uid"]:
                running = None  # a new pod of the same name; the old one is being killed
            if running is None:
                self._start_pod(pod)
                continue
            if not running.alive() and not self._stop.is_set():
                self._restart(pod, running)
            self._report(pod, running)
        for name in list(self.pods):
            if name not in seen and name not in self._terminating:
                self.pods.pop(name).signal(signal.SIGKILL)  # force-deleted behind our back

    def _start_pod(self, pod: dict[str, Any]) -> None:
        try:
            proc = self._launch(pod, suffix="")
        except PodConfigError as error:
            self._patch_status(pod, waiting=(error.reason, str(error)))
            return
        with self._lock:
            self.pods[self._key(pod)] = proc
        self._report(pod, proc)

    def _restart(self, pod: dict[str, Any], old: PodProcess) -> None:
        """restartPolicy Always, after a short backoff (a kubelet's starts at 10 s)."""
        if old.exited_at is None:
            old.exited_at = time.monotonic()
        if time.monotonic() - old.exited_at < RESTART_BACKOFF_S:
            return
        try:
            proc = self._launch(pod, suffix="")
        except PodConfigError as error:
            self._patch_status(pod, waiting=(error.reason, str(error)))
            return
        proc.restarts = old.restarts + 1
        with self._lock:
            self.pods[self._key(pod)] = proc

    def _terminate(self, pod: dict[str, Any]) -> None:
        """SIGTERM, SIGKILL after the grace period, then the final delete of the Pod."""
        name = self._key(pod)
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 30)
        with self._lock:
            proc = self.pods.get(name)
        if proc is not None and proc.uid == pod["metadata"]["uid"]:
            proc.signal(signal.SIGTERM)
            try:
                proc.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.signal(signal.SIGKILL)
                proc.process.wait(timeout=10)
                # What a kubelet's event would say; the container's last line, for the test.
                with proc.log_path.open("a", encoding="utf-8") as log:
                    log.write(f"[kubelet] {_micro_now()} grace period {grace:g} s over: SIGKILL\n")
            with self._lock:
                if self.pods.get(name) is proc:
                    del self.pods[name]
        # RuntimeError: the kubelet was stopped (its client closed) while this pod died.
        with contextlib.suppress(httpx.HTTPError, RuntimeError):
            self._http.request(
                "DELETE",
                f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods/{pod['metadata']['name']}",
                json={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "gracePeriodSeconds": 0,
                    "preconditions": {"uid": pod["metadata"]["uid"]},
                },
            )
        self._terminating.discard(name)

    def _key(self, pod: dict[str, Any]) -> str:
        """`name` for a one-namespace kubelet (what tests index by), else `namespace/name`."""
        meta = pod["metadata"]
        return str(meta["name"]) if self.namespace else f"{meta['namespace']}/{meta['name']}"

    # ------------------------------------------------------------ one process

    def _launch(self, pod: dict[str, Any], suffix: str) -> PodProcess:
        meta = pod["metadata"]
        name, uid, namespace = meta["name"], meta["uid"], meta["namespace"]
        folder = self.workdir / namespace / f"{name}-{uid[:8]}{('-' + suffix) if suffix else ''}"
        container = pod["spec"]["containers"][0]["name"]
        token = self._pod_token(pod)
        launch = build_launch(
            pod,
            container_name=container,
            secrets=lambda secret: self._secret(namespace, secret),
            config_maps=lambda config_map: self._config_map(namespace, config_map),
            volume_root=folder / "volumes",
            host_ports=free_port,
            entrypoints=ENTRYPOINTS,
            base_env={
                "PATH": f"{IMAGE_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "HOME": str(folder / "home"),
                "PYTHONUNBUFFERED": "1",
                **self.image_env,
            },
            service_account_token=token,
        )
        for directory in [*launch.dirs, folder / "home"]:
            directory.mkdir(parents=True, exist_ok=True)
        for item in launch.files:
            item.path.parent.mkdir(parents=True, exist_ok=True)
            item.path.write_bytes(item.content)
            item.path.chmod(item.mode)
        # In a pod, clients find the API server from KUBERNETES_SERVICE_HOST and read the
        # projected token at a fixed path; processes here share one filesystem, so each
        # gets a kubeconfig holding the same pod-bound token (kopf reads no tokenFile).
        kubeconfig = self.plane.write_kubeconfig(
            folder / "kubeconfig", namespace=namespace, token=token
        )
        log_path = folder / "container.log"
        env = {**launch.env, "KUBECONFIG": str(kubeconfig)}
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                launch.argv,
                env=env,
                cwd=folder / "home",
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # signals go to the container's whole process group
            )
        return PodProcess(self._key(pod), uid, launch, process, log_path)

    def _pod_token(self, pod: dict[str, Any]) -> str:
        """The pod's ServiceAccount token, bound to the pod as a kubelet's projected one is."""
        meta = pod["metadata"]
        try:
            return self.plane.token_for(
                meta["namespace"],
                pod["spec"].get("serviceAccountName") or "default",
                bound_pod=(meta["name"], meta["uid"]),
            )
        except ControlPlaneError as error:
            raise PodConfigError("CreateContainerConfigError", str(error)) from None

    def _secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        answer = self._http.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        return decode_secret(answer.json()) if answer.status_code == 200 else None

    def _config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        answer = self._http.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        if answer.status_code != 200:
            return None
        return {k: v.encode() for k, v in (answer.json().get("data") or {}).items()}

    # ------------------------------------------------------------ status

    def _report(self, pod: dict[str, Any], proc: PodProcess) -> None:
        ready = proc.ready()
        status = pod.get("status") or {}
        current = {c["type"]: c["status"] for c in status.get("conditions") or []}
        want = "True" if ready else "False"
        restarts = next(
            (c.get("restartCount", 0) for c in status.get("containerStatuses") or []), 0
        )
        if (
            status.get("phase") == "Running"
            and current.get("Ready") == want
            and restarts == proc.restarts
        ):
            return
        self._patch_status(pod, ready=ready, restarts=proc.restarts, alive=proc.alive())

    def _patch_status(
        self,
        pod: dict[str, Any],
        *,
        ready: bool = False,
        restarts: int = 0,
        alive: bool = True,
        waiting: tuple[str, str] | None = None,
    ) -> None:
        now = _now()
        container = pod["spec"]["containers"][0]
        state: dict[str, Any] = (
            {"waiting": {"reason": waiting[0], "message": waiting[1]}}
            if waiting
            else {"running": {"startedAt": now}}
            if alive
            else {"terminated": {"exitCode": 1, "reason": "Error"}}
        )
        flag = "True" if ready else "False"
        body = {
            "status": {
                "phase": "Pending" if waiting else "Running",
                # No podIP: an Endpoints address may not be a loopback one, and
                # nothing here could route to a pod address anyway.
                "hostIP": "127.0.0.1",
                "startTime": (pod.get("status") or {}).get("startTime") or now,
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                    {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
                    {"type": "Ready", "status": flag, "lastTransitionTime": now},
                ],
                "containerStatuses": [
                    {
                        "name": container["name"],
                        "image": container["image"],
                        "imageID": "",
                        "ready": ready,
                        "started": not waiting,
                        "restartCount": restarts,
                        "state": state,
                    }
                ],
            }
        }
        meta = pod["metadata"]
        self._http.patch(
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
            json=body,
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )


class StandInNode:
    """The Node the stand-in kubelet runs pods on, heartbeating for the whole test session.

    A kubelet renews its Lease in ``kube-node-lease`` every 10 s; without that
    the node lifecycle controller marks the node NotReady after 40 s and taints
    it, and nothing more is scheduled. One heartbeat per session, not per test:
    the Node is cluster-scoped and outlives every test's namespace.
    """

    def __init__(self, plane: ControlPlane) -> None:
        self._http = httpx.Client(base_url=plane.url, verify=plane.ssl_context(), timeout=10)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="node-heartbeat", daemon=True)

    def start(self) -> StandInNode:
        self._register_node()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._http.close()

    def _beat(self) -> None:
        while not self._stop.wait(NODE_LEASE_RENEW_S):
            with contextlib.suppress(httpx.HTTPError):
                self._renew_node_lease()

    def _register_node(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux"},
            },
        }
        answer = self._http.post("/api/v1/nodes", json=node)
        if answer.status_code not in (201, 409):
            answer.raise_for_status()
        capacity = {"cpu": "64", "memory": "256Gi", "pods": "500", "ephemeral-storage": "1Ti"}
        now = _now()
        self._http.patch(
            f"/api/v1/nodes/{NODE_NAME}/status",
            json={
                "status": {
                    "capacity": capacity,
                    "allocatable": capacity,
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "KubeletReady",
                            "message": "wafleet's kubelet stand-in",
                            "lastHeartbeatTime": now,
                            "lastTransitionTime": now,
                        }
                    ],
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                    "nodeInfo": {"kubeletVersion": "v1.36.2-standin"},
                }
            },
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        ).raise_for_status()
        self._renew_node_lease()

    def _renew_node_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE_NAME}"
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": NODE_NAME},
            "spec": {
                "holderIdentity": NODE_NAME,
                "leaseDurationSeconds": 40,
                "renewTime": _micro_now(),
            },
        }
        answer = self._http.patch(
            path,
            json=body,
            params={"fieldManager": "wafleet-kubelet-standin", "force": "true"},
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        answer.raise_for_status()
