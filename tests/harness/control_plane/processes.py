"""Start etcd, kube-apiserver, kube-controller-manager and kube-scheduler on 127.0.0.1.

The flags are those ../shared/kube/README.md found necessary on these
machines: free ports on the loopback only, real RBAC (`Node,RBAC`) and
client-certificate authentication, a ServiceAccount signing key pair so
TokenRequest works, no endpoint reconciler (the `kubernetes` Service cannot
get a loopback endpoint), and the controller manager's token controllers fed
with the same keys. Each process logs to its own file in the run folder; a
process that dies before it is ready fails start-up with its log's tail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from .assets import Assets
from .pki import Pki, make_pki

ADMIN_CONTEXT = "wafleet-test"
READY_TIMEOUT_S = 90.0


class ControlPlaneError(RuntimeError):
    """The control plane could not start; the message carries the failing process's log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]


@dataclass
class ControlPlane:
    """One running control plane; `start()` blocks until the API server is ready."""

    assets: Assets
    folder: Path
    pki: Pki | None = None
    api_port: int = 0
    processes: list[_Process] = field(default_factory=list)
    started_in_s: float = 0.0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.folder / "admin.kubeconfig"

    def start(self) -> ControlPlane:
        began = time.monotonic()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pki = pki = make_pki(self.folder / "pki")
        etcd_client, etcd_peer = free_port(), free_port()
        self.api_port = free_port()
        self._spawn(
            "etcd",
            [
                str(self.assets.etcd),
                f"--data-dir={self.folder / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync",  # test data: durability across power loss buys nothing
                "--log-level=warn",
            ],
        )
        self._spawn(
            "kube-apiserver",
            [
                str(self.assets.apiserver),
                f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.api_port}",
                f"--cert-dir={self.folder / 'apiserver-certs'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-key-file={pki.sa_public}",
                f"--service-account-signing-key-file={pki.sa_private}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--endpoint-reconciler-type=none",
                "--enable-aggregator-routing=true",
                "--allow-privileged=true",
                # On in many distributions (OpenShift among them): setting blockOwnerDeletion
                # on a child needs `update` on the owner's finalizers; the chart must grant it.
                "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
                "--v=0",
            ],
        )
        self.write_kubeconfig(self.admin_kubeconfig)
        self._wait_ready("kube-apiserver", f"{self.url}/readyz")
        self._spawn(
            "kube-controller-manager",
            [
                str(self.assets.controller_manager),
                *self._component_flags(),
                "--controllers=*,-service-ca-certificate-publisher-controller",
                f"--flex-volume-plugin-dir={self.folder / 'flexvolume'}",
                f"--service-account-private-key-file={pki.sa_private}",
                f"--root-ca-file={pki.ca_cert}",
                "--use-service-account-credentials=false",
                # Namespaces of finished tests go quickly; GC of CR owners resyncs often.
                "--concurrent-namespace-syncs=4",
                "--v=0",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [str(self.assets.scheduler), *self._component_flags(), "--v=0"],
        )
        self._wait_default_service_account()
        self.started_in_s = time.monotonic() - began
        return self

    def _component_flags(self) -> list[str]:
        """What the controller manager and the scheduler share: the admin identity (it is in
        system:masters, as the README advises with --use-service-account-credentials=false),
        a loopback-only secure port of their own, and no leader election (one of each)."""
        return [
            f"--kubeconfig={self.admin_kubeconfig}",
            f"--authentication-kubeconfig={self.admin_kubeconfig}",
            f"--authorization-kubeconfig={self.admin_kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            "--leader-elect=false",
        ]

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(timeout=5)
        self.processes.clear()

    def check_alive(self) -> None:
        """Raise with the log tail of any control-plane process that has exited."""
        for process in self.processes:
            if process.popen.poll() is not None:
                raise ControlPlaneError(
                    f"{process.name} exited with {process.popen.returncode}:\n{process.tail()}"
                )

    def write_kubeconfig(
        self,
        path: Path,
        *,
        namespace: str | None = None,
        token: str | None = None,
        server: str | None = None,
    ) -> Path:
        """A kubeconfig for this cluster: admin by client certificate, or a bearer token;
        `server` points it elsewhere (a fault proxy in front of the API server)."""
        assert self.pki is not None
        cluster: dict[str, str] = {"server": server or self.url}
        if cluster["server"].startswith("https://"):
            cluster["certificate-authority"] = str(self.pki.ca_cert)
        user: dict[str, str] = (
            {"token": token}
            if token
            else {
                "client-certificate": str(self.pki.admin_cert),
                "client-key": str(self.pki.admin_key),
            }
        )
        context: dict[str, str] = {"cluster": ADMIN_CONTEXT, "user": ADMIN_CONTEXT}
        if namespace:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": ADMIN_CONTEXT, "cluster": cluster}],
            "users": [{"name": ADMIN_CONTEXT, "user": user}],
            "contexts": [{"name": ADMIN_CONTEXT, "context": context}],
            "current-context": ADMIN_CONTEXT,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        path.chmod(0o600)
        return path

    def token_for(
        self,
        namespace: str,
        service_account: str,
        *,
        seconds: int = 3600,
        bound_pod: tuple[str, str] | None = None,
    ) -> str:
        """A TokenRequest token of `service_account`: exactly its RBAC, as its pod has.

        `bound_pod` (name, uid) binds the token to a Pod, as a kubelet's projected
        token is: it stops working once that Pod is gone.
        """
        spec: dict[str, object] = {"expirationSeconds": seconds}
        if bound_pod is not None:
            spec["boundObjectRef"] = {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": bound_pod[0],
                "uid": bound_pod[1],
            }
        with httpx.Client(base_url=self.url, verify=self.ssl_context(), timeout=10) as http:
            answer = http.post(
                f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
                json={
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenRequest",
                    "spec": spec,
                },
            )
        if answer.status_code >= 300:
            raise ControlPlaneError(
                f"TokenRequest for {namespace}/{service_account}: {answer.text}"
            )
        return str(answer.json()["status"]["token"])

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts the cluster CA and presents the admin certificate."""
        assert self.pki is not None
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = self.folder / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.folder,
                start_new_session=True,  # a test's Ctrl-C reaches pytest, which stops us in order
                env={k: v for k, v in os.environ.items() if not k.startswith("KUBE")},
            )
        self.processes.append(_Process(name, popen, log))

    def _wait_ready(self, name: str, url: str) -> None:
        context = self.ssl_context()
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(url, context=context, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                last = str(error)
            time.sleep(0.1)
        raise ControlPlaneError(f"{name} not ready after {READY_TIMEOUT_S:.0f} s ({last})")

    def _wait_default_service_account(self) -> None:
        """The controller manager is working once it has made `default`'s ServiceAccount."""
        url = f"{self.url}/api/v1/namespaces/default/serviceaccounts/default"
        self._wait_ready("kube-controller-manager", url)


def start_control_plane(assets: Assets, folder: Path) -> ControlPlane:
    plane = ControlPlane(assets, folder)
    try:
        return plane.start()
    except BaseException:
        with contextlib.suppress(Exception):
            plane.stop()
        raise
