"""A real Kubernetes control plane for tests, started the envtest way.

etcd + kube-apiserver + kube-controller-manager + kube-scheduler on
127.0.0.1 (see assets.py for where the binaries come from, pki.py for the
certificates, processes.py for the flags, kubelet.py for the stand-in that
runs wafleet's own pods).
"""

from .assets import Assets, find_assets
from .processes import (
    ADMIN_CONTEXT,
    ControlPlane,
    ControlPlaneError,
    free_port,
    start_control_plane,
)

__all__ = [
    "ADMIN_CONTEXT",
    "Assets",
    "ControlPlane",
    "ControlPlaneError",
    "find_assets",
    "free_port",
    "start_control_plane",
]
