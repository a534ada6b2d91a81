"""The operator's own API client keeps few connections: each TLS one costs ~0.3 MB resident."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wafleet_operator.kube import MAX_CONNECTIONS, Kube


def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "dev",
                "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"token": "t0k"}}],
            }
        )
    )
    return path


@pytest.mark.parametrize(("requested", "expected"), [(None, MAX_CONNECTIONS), (4, 4)])
async def test_connect_bounds_the_connection_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, requested: int | None, expected: int
) -> None:
    """A burst of reconciliations waits for a free connection instead of opening up to 100."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path)))
    kube = await (Kube.connect() if requested is None else Kube.connect(max_connections=requested))
    try:
        assert kube.client.connection.server == "https://127.0.0.1:6443"
        assert kube.client.max_connections == expected
    finally:
        await kube.close()


def test_the_bound_leaves_room_for_parallel_reconciles() -> None:
    """Small enough to matter for memory, large enough not to serialise the operator."""
    assert 8 <= MAX_CONNECTIONS < 100
