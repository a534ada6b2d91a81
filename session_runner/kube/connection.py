"""Where the API server is and how to authenticate: in-cluster, or from a kubeconfig.

In a pod: the service account's token (re-read on every request, since
kubelet rotates it) and CA. Elsewhere: the kubeconfig's current context —
server, CA (file or data), insecure-skip-tls-verify, and a bearer token or a
client certificate (file or data). Exec plugins and auth providers are not
supported; use a token or certificate for development clusters.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeConfigError(Exception):
    """The kubeconfig or in-cluster configuration cannot be used; the message says why."""


@dataclass(frozen=True)
class Connection:
    server: str
    ssl_context: ssl.SSLContext | bool
    token: str | None = None
    token_file: Path | None = None
    #: The namespace a request without one means: the kubeconfig context's, or the pod's own.
    namespace: str = "default"

    def authorization(self) -> dict[str, str]:
        token = self.token
        if self.token_file is not None:
            token = self.token_file.read_text(encoding="utf-8").strip()
        return {"Authorization": f"Bearer {token}"} if token else {}


def in_cluster() -> Connection | None:
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT"),
    )
    token = SERVICE_ACCOUNT / "token"
    if not host or not port or not token.exists():
        return None
    context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    server_host = f"[{host}]" if ":" in host else host
    namespace_file = SERVICE_ACCOUNT / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.exists() else "default"
    return Connection(
        server=f"https://{server_host}:{port}",
        ssl_context=context,
        token_file=token,
        namespace=namespace or "default",
    )


def _materialize(data: str | None, path: str | None, base: Path, scratch: Path) -> str | None:
    """A file path for *-data fields (ssl reads only files), or the configured path made absolute.

    Data goes to `scratch`, a private folder deleted as soon as the SSL context
    has read it: a client key must not outlive its use on disk.
    """
    if data:
        handle = tempfile.NamedTemporaryFile(prefix="kube-", dir=scratch, delete=False)  # noqa: SIM115
        with handle:
            handle.write(base64.b64decode(data))
        return handle.name
    if path:
        return str((base / path).resolve())
    return None


def from_kubeconfig(path: Path, context_name: str | None = None) -> Connection:
    try:
        config: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise KubeConfigError(f"kubeconfig {path}: {error.strerror}") from None
    name = context_name or config.get("current-context")
    contexts = {c["name"]: c.get("context") or {} for c in config.get("contexts") or []}
    if name not in contexts:
        raise KubeConfigError(f"kubeconfig {path}: context {name!r} not found")
    context = contexts[name]
    clusters = {c["name"]: c.get("cluster") or {} for c in config.get("clusters") or []}
    users = {u["name"]: u.get("user") or {} for u in config.get("users") or []}
    cluster = clusters.get(context.get("cluster"), {})
    user = users.get(context.get("user"), {})
    server = str(cluster.get("server") or "")
    if not server:
        raise KubeConfigError(f"kubeconfig {path}: context {name!r} has no cluster server")
    ssl_context: ssl.SSLContext | bool = True
    if server.startswith("https://"):
        with tempfile.TemporaryDirectory(prefix="wafleet-kube-") as scratch:
            ssl_context = _https_context(cluster, user, path.parent, Path(scratch))
    if user.get("exec") or user.get("auth-provider"):
        raise KubeConfigError(
            f"kubeconfig {path}: user of context {name!r} uses an exec plugin or auth provider; "
            "the runner supports tokens and client certificates"
        )
    token_file = Path(user["tokenFile"]) if user.get("tokenFile") else None
    return Connection(
        server=server.rstrip("/"),
        ssl_context=ssl_context,
        token=user.get("token"),
        token_file=token_file,
        namespace=str(context.get("namespace") or "default"),
    )


def load_connection() -> Connection:
    """In-cluster when running in a pod, else $KUBECONFIG (first file) or ~/.kube/config."""
    found = in_cluster()
    if found is not None:
        return found
    configured = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    path = Path(configured) if configured else Path.home() / ".kube" / "config"
    return from_kubeconfig(path)


def _https_context(
    cluster: dict[str, Any], user: dict[str, Any], base: Path, scratch: Path
) -> ssl.SSLContext | bool:
    """The SSL context of an https server: its CA (or none checked), and a client cert if any."""
    ssl_context: ssl.SSLContext | bool = True
    if cluster.get("insecure-skip-tls-verify"):
        ssl_context = False
    else:
        ca = _materialize(
            cluster.get("certificate-authority-data"),
            cluster.get("certificate-authority"),
            base,
            scratch,
        )
        ssl_context = ssl.create_default_context(cafile=ca)
    cert = _materialize(
        user.get("client-certificate-data"), user.get("client-certificate"), base, scratch
    )
    key = _materialize(user.get("client-key-data"), user.get("client-key"), base, scratch)
    if cert and key:
        if ssl_context is False:
            ssl_context = ssl.create_default_context()
            ssl_context.check_hostname = False
            ssl_context.verify_mode = ssl.CERT_NONE
        assert isinstance(ssl_context, ssl.SSLContext)
        ssl_context.load_cert_chain(cert, key)
    return ssl_context
