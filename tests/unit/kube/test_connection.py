"""Reading a kubeconfig the way kubectl does, for the runner's small client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from session_runner.kube.connection import KubeConfigError, from_kubeconfig


def write(
    tmp_path: Path,
    user: dict[str, Any],
    cluster: dict[str, Any] | None = None,
    namespace: str | None = None,
) -> Path:
    context = {"cluster": "c", "user": "u", **({"namespace": namespace} if namespace else {})}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "dev",
        "contexts": [{"name": "dev", "context": context}],
        "clusters": [{"name": "c", "cluster": cluster or {"server": "http://127.0.0.1:8080"}}],
        "users": [{"name": "u", "user": user}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_token_user(tmp_path: Path) -> None:
    connection = from_kubeconfig(write(tmp_path, {"token": "t0k"}))
    assert connection.server == "http://127.0.0.1:8080"
    assert connection.authorization() == {"Authorization": "Bearer t0k"}


@pytest.mark.parametrize(("namespace", "expected"), [(None, "default"), ("whatsapp", "whatsapp")])
def test_the_contexts_namespace_is_the_default_one(
    tmp_path: Path, namespace: str | None, expected: str
) -> None:
    """As kubectl: a command without -n works in the current context's namespace."""
    assert (
        from_kubeconfig(write(tmp_path, {"token": "t"}, namespace=namespace)).namespace == expected
    )


def test_token_file_is_read_on_every_request(tmp_path: Path) -> None:
    """Projected service-account tokens rotate; a cached token would expire."""
    token = tmp_path / "token"
    token.write_text("first\n")
    connection = from_kubeconfig(write(tmp_path, {"tokenFile": str(token)}))
    assert connection.authorization() == {"Authorization": "Bearer first"}
    token.write_text("second\n")
    assert connection.authorization() == {"Authorization": "Bearer second"}


def test_insecure_https(tmp_path: Path) -> None:
    cluster = {"server": "https://10.0.0.1:6443", "insecure-skip-tls-verify": True}
    assert from_kubeconfig(write(tmp_path, {"token": "t"}, cluster)).ssl_context is False


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ({"exec": {"command": "aws"}}, "exec plugin"),
        ({"auth-provider": {"name": "gcp"}}, "auth provider"),
    ],
)
def test_unsupported_auth_is_named(tmp_path: Path, user: dict[str, Any], message: str) -> None:
    with pytest.raises(KubeConfigError, match=message):
        from_kubeconfig(write(tmp_path, user))


def test_missing_context_and_file_are_named(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="context 'other' not found"):
        from_kubeconfig(write(tmp_path, {"token": "t"}), context_name="other")
    with pytest.raises(KubeConfigError, match="kubeconfig"):
        from_kubeconfig(tmp_path / "absent")


def test_inline_client_key_is_loaded_and_leaves_no_file_behind(tmp_path: Path) -> None:
    """`client-key-data` must be written to a file for ssl to read it; the file goes at once."""
    import base64
    import tempfile

    from tests.harness.control_plane.pki import make_pki

    pki = make_pki(tmp_path / "pki")

    def inline(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    scratch_before = set(Path(tempfile.gettempdir()).glob("wafleet-kube-*"))
    connection = from_kubeconfig(
        write(
            tmp_path,
            {
                "client-certificate-data": inline(pki.admin_cert),
                "client-key-data": inline(pki.admin_key),
            },
            cluster={
                "server": "https://127.0.0.1:6443",
                "certificate-authority-data": inline(pki.ca_cert),
            },
        )
    )
    assert connection.ssl_context not in (True, False)  # a context with the chain loaded
    assert set(Path(tempfile.gettempdir()).glob("wafleet-kube-*")) == scratch_before
