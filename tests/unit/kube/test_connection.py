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
