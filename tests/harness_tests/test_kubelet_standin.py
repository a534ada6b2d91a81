"""The kubelet stand-in on the real control plane: each semantic wafleet's pods rely on.

The Pod here is created directly (no StatefulSet) with a `command`, so any
program can play the container: a tiny HTTP server that answers the readiness
probe, and that ignores SIGTERM when asked to (to see the grace period end in
SIGKILL).
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from tests.harness.control_plane.kubelet import NODE_NAME, Kubelet
from tests.harness.kube import KubeApi
from tests.harness.waiting import wait_for

SERVER = """
import http.server, os, signal, sys
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, lambda *_: None)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(os.environ["GREETING"].encode())
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def pod_manifest(name: str, *, ignore_term: bool = False, grace: int = 30) -> dict[str, Any]:
    env = [
        {"name": "PORT", "value": "8000"},
        {"name": "GREETING", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    if ignore_term:
        env.append({"name": "IGNORE_TERM", "value": "1"})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": grace,
            "containers": [
                {
                    "name": "main",
                    "image": "any/image:1",
                    "command": [sys.executable, "-c", SERVER],
                    "env": env,
                    "ports": [{"containerPort": 8000}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 8000}},
                }
            ],
        },
    }


def read_pod(kube_api: KubeApi, name: str) -> dict[str, Any] | None:
    with kube_api.http() as http:
        answer = http.get(f"/api/v1/namespaces/{kube_api.namespace}/pods/{name}")
    return answer.json() if answer.status_code == 200 else None


def ready(pod: dict[str, Any] | None) -> bool:
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def create(kube_api: KubeApi, manifest: dict[str, Any]) -> None:
    with kube_api.http() as http:
        http.post(f"/api/v1/namespaces/{kube_api.namespace}/pods", json=manifest).raise_for_status()


def test_a_pod_is_scheduled_run_and_ready_from_its_real_probe(
    kube_api: KubeApi, kubelet: Kubelet
) -> None:
    create(kube_api, pod_manifest("web"))
    pod = wait_for(lambda: (p := read_pod(kube_api, "web")) and ready(p) and p, "Ready", timeout=60)
    assert pod["spec"]["nodeName"] == NODE_NAME  # bound by the real scheduler
    assert pod["status"]["phase"] == "Running"
    running = kubelet.pods["web"]
    assert running.launch.readiness_url is not None
    import urllib.request

    with urllib.request.urlopen(running.launch.readiness_url, timeout=5) as answer:
        assert answer.read() == b"web"  # the downward API gave it its own name


def test_a_container_that_exits_is_restarted_and_counted(
    kube_api: KubeApi, kubelet: Kubelet
) -> None:
    create(kube_api, pod_manifest("crashy"))
    wait_for(lambda: ready(read_pod(kube_api, "crashy")), "Ready", timeout=60)
    first = kubelet.pods["crashy"].process
    first.kill()

    def restarted() -> bool:
        pod = read_pod(kube_api, "crashy") or {}
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return bool(statuses) and statuses[0]["restartCount"] == 1 and ready(pod)

    wait_for(restarted, "restartCount 1 and Ready again", timeout=60)
    assert kubelet.pods["crashy"].process is not first


def test_deletion_sends_sigterm_then_sigkill_after_the_grace_period_then_removes_the_pod(
    kube_api: KubeApi, kubelet: Kubelet
) -> None:
    create(kube_api, pod_manifest("stubborn", ignore_term=True, grace=2))
    create(kube_api, pod_manifest("polite", grace=30))
    wait_for(lambda: ready(read_pod(kube_api, "stubborn")), "stubborn Ready", timeout=60)
    wait_for(lambda: ready(read_pod(kube_api, "polite")), "polite Ready", timeout=60)
    stubborn, polite = kubelet.pods["stubborn"].process, kubelet.pods["polite"].process
    with kube_api.http() as http:
        http.delete(f"/api/v1/namespaces/{kube_api.namespace}/pods/stubborn").raise_for_status()
        http.delete(f"/api/v1/namespaces/{kube_api.namespace}/pods/polite").raise_for_status()
    wait_for(lambda: read_pod(kube_api, "polite") is None, "polite removed", timeout=60)
    assert polite.returncode == -signal.SIGTERM  # it stopped on SIGTERM, well inside 30 s
    wait_for(lambda: read_pod(kube_api, "stubborn") is None, "stubborn removed", timeout=60)
    assert stubborn.returncode == -signal.SIGKILL  # it ignored SIGTERM; the grace period ended it
