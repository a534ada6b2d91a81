"""The Helm chart on a real API server: the real helm and kubectl, real admission, real RBAC.

Last round `helm install` failed on a real server although every offline
check passed; these tests install, upgrade and uninstall the chart with the
real helm against a real kube-apiserver and read back what the server stored.

Each test starts its own control plane (about 3 s): the chart installs release
`wafleet` into `wafleet-system` exactly as docs/install.md says, owns the
cluster-scoped wafleet.io CRDs through Helm's ownership annotations and
creates a ClusterRole named `wafleet`, none of which may meet the CRDs the
rest of the session shares (Helm refuses to adopt objects it did not create).

docs/install.md is run, not just read: `doc_commands()` takes every command
of its ```sh blocks and `test_install_md_commands_work_on_a_real_cluster`
runs them verbatim, so a doc command that stops working fails here. There is
no kubelet, so the harness's kubelet stand-in (tests/harness/control_plane/kubelet.py)
runs the pods those commands need (the operator's Deployment pod and each
account's runner pod) with the env their specs declare and a pod-bound
TokenRequest token of the pod's ServiceAccount, and reports each pod Running
and Ready from its own readiness endpoint. The operator therefore runs with
exactly the chart's RBAC.
"""

from __future__ import annotations

import os
import re
import shlex
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.harness.control_plane import ControlPlane, find_assets, start_control_plane
from tests.harness.control_plane.kubelet import Kubelet, StandInNode
from tests.harness.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools" / "bin"
HELM, KUBECTL = TOOLS / "helm", TOOLS / "kubectl"
CHART = REPO / "charts" / "wafleet"
INSTALL_MD = REPO / "docs" / "install.md"
ARGOCD_APPLICATION = REPO / "docs" / "argocd-application.yaml"
SAMPLE = REPO / "samples" / "valid" / "whatsappaccount-local.yaml"
RELEASE, RELEASE_NS = "wafleet", "wafleet-system"
OPERATOR_SA = f"system:serviceaccount:{RELEASE_NS}:wafleet"
WAFLEET_CRDS = (
    "whatsappaccounts.wafleet.io",
    "senderpools.wafleet.io",
    "webhooksubscriptions.wafleet.io",
)
WAA = "/apis/wafleet.io/v1alpha1"

pytestmark = pytest.mark.skipif(
    not (HELM.exists() and KUBECTL.exists()), reason="helm and kubectl come from `make tools`"
)


# ---------------------------------------------------------------- the cluster


@dataclass
class Cluster:
    """One control plane as a user's shell sees it: KUBECONFIG, helm and kubectl on PATH."""

    plane: ControlPlane
    folder: Path

    @property
    def kubeconfig(self) -> Path:
        return self.plane.admin_kubeconfig

    def env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "HELM_"))},
            "PATH": f"{TOOLS}{os.pathsep}{os.environ.get('PATH', '')}",
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.folder / "kube-cache"),
            "HELM_CACHE_HOME": str(self.folder / "helm-cache"),
            "HELM_CONFIG_HOME": str(self.folder / "helm-config"),
            "HELM_DATA_HOME": str(self.folder / "helm-data"),
        }

    def _exec(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def sh(self, command: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """Run one shell command line from the repository root, as the docs' reader would."""
        return self._exec(["bash", "-c", command], timeout)

    def run(self, *argv: str, timeout: float = 300.0) -> str:
        """helm or kubectl with these arguments; fails the test with the tool's own words."""
        done = self._exec(list(argv), timeout)
        assert done.returncode == 0, f"{shlex.join(argv)} -> {done.returncode}\n{done.stderr}"
        # The server's warnings (deprecated APIs, unknown or duplicate fields) reach stderr.
        warnings = [line for line in done.stderr.splitlines() if "warning" in line.lower()]
        assert not warnings, f"{shlex.join(argv)}: the server warned: {warnings}"
        return done.stdout

    def http(self, token: str | None = None) -> httpx.Client:
        if token is None:
            return httpx.Client(
                base_url=self.plane.url, verify=self.plane.ssl_context(), timeout=15
            )
        assert self.plane.pki is not None
        return httpx.Client(
            base_url=self.plane.url,
            verify=ssl.create_default_context(cafile=str(self.plane.pki.ca_cert)),
            headers={"Authorization": f"Bearer {token}"},
            timeout=15,
        )

    def get(self, path: str) -> httpx.Response:
        with self.http() as http:
            return http.get(path)

    def token_for(self, namespace: str, service_account: str) -> str:
        """A TokenRequest token: exactly that ServiceAccount's RBAC, as its pod has."""
        return self.plane.token_for(namespace, service_account)

    def create_namespace(self, name: str) -> None:
        with self.http() as http:
            answer = http.post("/api/v1/namespaces", json={"metadata": {"name": name}})
        assert answer.status_code in (201, 409), answer.text


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A control plane of this test's own (see the module docstring for why)."""
    assets = find_assets()
    if isinstance(assets, str):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs a real control plane: {assets}", pytrace=False)
        pytest.skip(f"no real Kubernetes control plane: {assets}")
    plane = start_control_plane(assets, tmp_path / "control-plane")
    try:
        yield Cluster(plane, tmp_path)
    finally:
        plane.stop()


# ---------------------------------------------------------------- helm's objects


def api_path(obj: dict[str, Any], namespace: str | None = None) -> str:
    """The object's URL on the server, from its apiVersion and kind (the kinds the chart renders)."""
    plurals = {
        "ServiceAccount": "serviceaccounts",
        "Service": "services",
        "Deployment": "deployments",
        "PodDisruptionBudget": "poddisruptionbudgets",
        "Role": "roles",
        "RoleBinding": "rolebindings",
        "ClusterRole": "clusterroles",
        "ClusterRoleBinding": "clusterrolebindings",
        "CustomResourceDefinition": "customresourcedefinitions",
        "KopfPeering": "kopfpeerings",
        "ClusterKopfPeering": "clusterkopfpeerings",
    }
    kind, api_version = obj["kind"], obj["apiVersion"]
    plural = plurals.get(kind)
    assert plural, f"the chart renders a kind this test does not know yet: {kind}"
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    meta = obj["metadata"]
    cluster_scoped = kind.startswith("Cluster") or kind == "CustomResourceDefinition"
    ns = None if cluster_scoped else meta.get("namespace") or namespace or RELEASE_NS
    return (
        f"{base}/namespaces/{ns}/{plural}/{meta['name']}"
        if ns
        else f"{base}/{plural}/{meta['name']}"
    )


def release_objects(cluster: Cluster) -> list[dict[str, Any]]:
    """What Helm applied for the release (`helm get manifest`), one dict per object."""
    manifest = cluster.run(str(HELM), "get", "manifest", RELEASE, "--namespace", RELEASE_NS)
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


def established(cluster: Cluster, crd: str) -> bool:
    answer = cluster.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}")
    if answer.status_code != 200:
        return False
    conditions = answer.json().get("status", {}).get("conditions", [])
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def assert_all_exist(cluster: Cluster, objects: list[dict[str, Any]]) -> None:
    """Every object Helm sent is stored, with the release's labels."""
    missing = []
    for obj in objects:
        answer = cluster.get(api_path(obj))
        if answer.status_code != 200:
            missing.append(f"{obj['kind']} {obj['metadata']['name']}: {answer.status_code}")
            continue
        labels = answer.json()["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/instance") == RELEASE, (obj["kind"], labels)
    assert not missing, missing


def deployment_env(cluster: Cluster) -> dict[str, str]:
    deployment = cluster.get(f"/apis/apps/v1/namespaces/{RELEASE_NS}/deployments/wafleet").json()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def create_account(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    with cluster.http() as http:
        answer = http.post(
            f"{WAA}/namespaces/{namespace}/whatsappaccounts",
            json={
                "apiVersion": "wafleet.io/v1alpha1",
                "kind": "WhatsAppAccount",
                "metadata": {"name": name},
                "spec": {"phoneNumber": "+15550100009", "engine": "local"},
            },
        )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


# ---------------------------------------------------------------- docs/install.md


def doc_commands(path: Path = INSTALL_MD) -> list[str]:
    """Every command line of the doc's ```sh blocks, in order (comments and blank lines dropped).

    The one source of the install commands: the doc shows them, this test runs them.
    """
    blocks = re.findall(r"^```sh\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def test_doc_commands_are_found() -> None:
    """Guard: a reformatted doc that hides its commands from the test fails here, not silently."""
    commands = doc_commands()
    assert any(c.startswith("helm install ") for c in commands), commands
    assert any(c.startswith("kubectl apply -f samples/") for c in commands), commands


def test_the_readmes_install_block_is_the_tested_one() -> None:
    """README.md's "Install on a cluster" shows docs/install.md's commands, which run below."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Install on a cluster", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "README's install section has no sh block"
    shown = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    assert shown == doc_commands()


# ---------------------------------------------------------------- playing the pods


@pytest.fixture
def pod_player(cluster: Cluster, tmp_path: Path) -> Iterator[Kubelet]:
    """The harness's kubelet stand-in, for every namespace of this test's control plane.

    It runs the operator's Deployment pod and each account's runner pod with
    the env, Secrets and pod-bound ServiceAccount token their specs declare, so
    the operator runs with exactly the chart's RBAC.
    """
    node = StandInNode(cluster.plane).start()
    player = Kubelet(cluster.plane, None, tmp_path / "pods").start()
    try:
        yield player
    finally:
        player.stop()
        node.stop()
        for pod in player.pods.values():  # shown for a failed test
            print(f"--- pod {pod.pod} ---\n{pod.logs()[-4000:]}")


def test_install_md_commands_work_on_a_real_cluster(cluster: Cluster, pod_player: Kubelet) -> None:
    """docs/install.md's commands, verbatim, on a fresh cluster: each must succeed."""
    for command in doc_commands():
        done = cluster.sh(command)
        assert done.returncode == 0, (
            f"docs/install.md: `{command}` failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            f"\npod player errors: {pod_player.errors}"
        )
    assert not pod_player.errors, pod_player.errors

    # The sample account as the server stores it (kubectl applied it to the default namespace).
    sample = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    stored = cluster.get(f"{WAA}/namespaces/default/whatsappaccounts/demo").json()
    assert stored["kind"] == "WhatsAppAccount"
    assert {k: stored["spec"][k] for k in sample["spec"]} == sample["spec"]
    # The operator ran as the chart's ServiceAccount, built the account's children, and the
    # runner (as its own ServiceAccount) holds the Lease and connected: `kubectl wait` said Ready.
    assert cluster.get("/apis/apps/v1/namespaces/default/statefulsets/waa-demo").status_code == 200
    status = cluster.get(f"{WAA}/namespaces/default/whatsappaccounts/demo").json()["status"]
    lease = next(c for c in status["conditions"] if c["type"] == "LeaseHeld")
    assert lease["status"] == "True", status
    assert "waa-demo-0" in lease["message"], lease
    assert status["phase"] == "Connected", status


# ---------------------------------------------------------------- install, upgrade, uninstall


def argocd_values(folder: Path) -> Path:
    """The `valuesObject` of docs/argocd-application.yaml, as a values file for helm."""
    application = yaml.safe_load(ARGOCD_APPLICATION.read_text(encoding="utf-8"))
    path = folder / "argocd-values.yaml"
    path.write_text(yaml.safe_dump(application["spec"]["source"]["helm"]["valuesObject"]))
    return path


def gone(cluster: Cluster, obj: dict[str, Any]) -> bool:
    return cluster.get(api_path(obj)).status_code == 404


def test_install_upgrade_and_uninstall_on_a_real_server(cluster: Cluster) -> None:
    """Every rendered object is accepted and stored; upgrades show; uninstall keeps CRDs and accounts."""
    helm = str(HELM)
    cluster.run(
        helm, "install", RELEASE, str(CHART), "--namespace", RELEASE_NS, "--create-namespace",
        "--set", "podDisruptionBudget.enabled=true",
    )  # fmt: skip
    installed = release_objects(cluster)
    kinds = {o["kind"] for o in installed}
    assert kinds >= {
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    }, kinds
    assert_all_exist(cluster, installed)
    for crd in WAFLEET_CRDS:
        wait_for(partial(established, cluster, crd), f"CRD {crd} Established", timeout=60)
    # kopf's peering CRDs come from the chart's crds/ folder, which Helm applies first.
    for crd in ("kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"):
        wait_for(partial(established, cluster, crd), f"CRD {crd} Established", timeout=60)
    survivor = create_account(cluster, "default", "survivor")

    # A changed value reaches the stored object.
    assert deployment_env(cluster)["WAFLEET_LOG_LEVEL"] == "info"
    cluster.run(
        helm, "upgrade", RELEASE, str(CHART), "--namespace", RELEASE_NS,
        "--reuse-values", "--set", "logLevel=debug",
    )  # fmt: skip
    assert deployment_env(cluster)["WAFLEET_LOG_LEVEL"] == "debug"

    # docs/argocd-application.yaml's values: two replicas with peering, one watched namespace.
    cluster.create_namespace("whatsapp")
    cluster.run(
        helm, "upgrade", RELEASE, str(CHART), "--namespace", RELEASE_NS,
        "--values", str(argocd_values(cluster.folder)),
    )  # fmt: skip
    upgraded = release_objects(cluster)
    assert_all_exist(cluster, upgraded)
    assert {(o["kind"], o["metadata"].get("namespace")) for o in upgraded} >= {
        ("Role", "whatsapp"),
        ("RoleBinding", "whatsapp"),
        ("KopfPeering", "whatsapp"),
    }
    assert deployment_env(cluster)["WAFLEET_NAMESPACE"] == "whatsapp"
    deployment = cluster.get(f"/apis/apps/v1/namespaces/{RELEASE_NS}/deployments/wafleet").json()
    assert deployment["spec"]["replicas"] == 2
    # What the upgrade dropped is deleted: the cluster-wide role and the PDB.
    dropped = [o for o in installed if o["kind"] in ("ClusterRoleBinding", "PodDisruptionBudget")]
    dropped = [o for o in dropped if o["metadata"]["name"] == RELEASE]
    assert len(dropped) == 2, dropped
    for obj in dropped:
        wait_for(partial(gone, cluster, obj), f"{obj['kind']} deleted by the upgrade", timeout=60)

    cluster.run(helm, "uninstall", RELEASE, "--namespace", RELEASE_NS)
    for obj in upgraded:
        if obj["kind"] != "CustomResourceDefinition":
            wait_for(partial(gone, cluster, obj), f"{obj['kind']} deleted by uninstall", timeout=60)
    # helm.sh/resource-policy: keep. Deleting the CRDs would delete every account.
    for crd in WAFLEET_CRDS:
        assert established(cluster, crd), crd
    kept = cluster.get(f"{WAA}/namespaces/default/whatsappaccounts/survivor")
    assert kept.status_code == 200, kept.text
    assert kept.json()["metadata"]["uid"] == survivor["metadata"]["uid"]

    # Installing again adopts the kept CRDs (they still carry the release's annotations).
    cluster.run(helm, "install", RELEASE, str(CHART), "--namespace", RELEASE_NS)
    assert_all_exist(cluster, release_objects(cluster))
    assert cluster.get(f"{WAA}/namespaces/default/whatsappaccounts/survivor").status_code == 200


# ---------------------------------------------------------------- the operator's RBAC


def can_i(cluster: Cluster, *args: str, user: str = OPERATOR_SA) -> bool:
    """`kubectl auth can-i ... --as=<user>`, the chart's operator ServiceAccount unless told."""
    done = subprocess.run(
        [str(KUBECTL), "auth", "can-i", *args, f"--as={user}"],
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


def can_i_is(
    cluster: Cluster, expected: bool, check: tuple[str, ...], user: str = OPERATOR_SA
) -> bool:
    return can_i(cluster, *check, user=user) is expected


#: What the operator does (templates/rbac.yaml says why each is needed) ...
ALLOWED = [
    ("list", "whatsappaccounts.wafleet.io", "-A"),
    ("watch", "whatsappaccounts.wafleet.io", "-A"),
    ("patch", "whatsappaccounts.wafleet.io", "-n", "default"),
    ("patch", "whatsappaccounts.wafleet.io", "--subresource=status", "-n", "default"),
    ("update", "whatsappaccounts.wafleet.io", "--subresource=finalizers", "-n", "default"),
    ("create", "statefulsets.apps", "-n", "default"),
    ("patch", "statefulsets.apps", "-n", "default"),
    ("create", "leases.coordination.k8s.io", "-n", "default"),
    ("patch", "roles.rbac.authorization.k8s.io", "-n", "default"),
    ("patch", "rolebindings.rbac.authorization.k8s.io", "-n", "default"),
    ("patch", "serviceaccounts", "-n", "default"),
    ("patch", "services", "-n", "default"),
    ("create", "events", "-n", "default"),
    ("get", "secrets", "-n", "default"),
    ("get", "pods", "-n", "default"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
    ("patch", "clusterkopfpeerings.kopf.dev"),
]
#: ... and what it must not: list, watch or write Secrets, delete anything, run pods, escalate.
FORBIDDEN = [
    ("list", "secrets", "-A"),
    ("watch", "secrets", "-A"),
    ("list", "secrets", "-n", "default"),
    ("create", "secrets", "-n", "default"),
    ("delete", "secrets", "-n", "default"),
    ("delete", "whatsappaccounts.wafleet.io", "-n", "default"),
    ("delete", "statefulsets.apps", "-n", "default"),
    ("create", "pods", "-n", "default"),
    ("escalate", "roles.rbac.authorization.k8s.io", "-n", "default"),
    ("bind", "clusterroles.rbac.authorization.k8s.io"),
    ("impersonate", "users"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
]


def apply_as(http: httpx.Client, obj: dict[str, Any]) -> httpx.Response:
    """Server-side apply under the operator's field manager, as `Kube.apply` sends it."""
    from wafleet_operator.kube import FIELD_MANAGER, KINDS

    kind = KINDS[(obj["apiVersion"], obj["kind"])]
    meta = obj["metadata"]
    return http.patch(
        kind.object_path(meta.get("namespace"), meta["name"]),
        params={"fieldManager": FIELD_MANAGER, "force": "true"},
        json=obj,
        headers={"Content-Type": "application/apply-patch+yaml"},
    )


def test_the_operator_service_account_has_the_operators_verbs_and_no_more(
    cluster: Cluster,
) -> None:
    """The chart's RBAC as the real authorizer sees it: can-i, then real requests with a token."""
    from wafleet_operator.api import WhatsAppAccountSpec
    from wafleet_operator.config import OperatorSettings
    from wafleet_operator.specs import build_children
    from wafleet_operator.specs.account import AccountRef

    cluster.run(
        str(HELM), "install", RELEASE, str(CHART), "--namespace", RELEASE_NS, "--create-namespace"
    )
    for crd in WAFLEET_CRDS:
        wait_for(partial(established, cluster, crd), f"CRD {crd} Established", timeout=60)
    denied = [" ".join(check) for check in ALLOWED if not can_i(cluster, *check)]
    granted = [" ".join(check) for check in FORBIDDEN if can_i(cluster, *check)]
    assert not denied, f"the chart's operator may not: {denied}"
    assert not granted, f"the chart's operator may: {granted}"

    # Real requests with a TokenRequest token: the operator's own children for an account.
    account = create_account(cluster, "default", "rbac")
    meta = account["metadata"]
    ref = AccountRef(name=meta["name"], namespace="default", uid=meta["uid"], generation=1)
    spec = WhatsAppAccountSpec.model_validate(account["spec"])
    token = cluster.token_for(RELEASE_NS, "wafleet")
    with cluster.http(token) as http:
        assert http.get(f"{WAA}/whatsappaccounts").status_code == 200
        watch = http.get(f"{WAA}/whatsappaccounts", params={"watch": "1", "timeoutSeconds": "1"})
        assert watch.status_code == 200, watch.text
        children = build_children(ref, spec, OperatorSettings())
        assert {c["kind"] for c in children} >= {"StatefulSet", "Lease", "Role", "RoleBinding"}
        for child in children:
            answer = apply_as(http, child)
            assert answer.status_code in (200, 201), (child["kind"], answer.text)
        status = http.patch(
            f"{WAA}/namespaces/default/whatsappaccounts/rbac/status",
            json={"status": {"phase": "Pending"}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert status.status_code == 200, status.text
        event = http.post(
            "/api/v1/namespaces/default/events",
            json={
                "metadata": {"generateName": "rbac."},
                "involvedObject": {
                    "kind": "WhatsAppAccount",
                    "namespace": "default",
                    "name": "rbac",
                },
                "reason": "Check",
                "message": "the operator may post events",
                "type": "Normal",
            },
        )
        assert event.status_code == 201, event.text

        # What it must not do, the server refuses.
        secret = http.post(
            "/api/v1/namespaces/default/secrets", json={"metadata": {"name": "stolen"}}
        )
        assert secret.status_code == 403, secret.text
        delete = http.delete("/apis/apps/v1/namespaces/default/statefulsets/waa-rbac")
        assert delete.status_code == 403, delete.text
        escalating = apply_as(
            http,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "more-than-it-holds", "namespace": "default"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}],
            },
        )
        assert escalating.status_code == 403, escalating.text
        assert "attempting to grant RBAC permissions not currently held" in escalating.text

    # Watching a namespace list: the same verbs there through a Role, nothing elsewhere.
    cluster.create_namespace("whatsapp")
    cluster.run(
        str(HELM), "upgrade", RELEASE, str(CHART), "--namespace", RELEASE_NS,
        "--reuse-values", "--set", "watchNamespaces={whatsapp}",
    )  # fmt: skip
    # The authorizer reads RBAC through informers: poll briefly for the upgrade to show.
    for expected, check in [
        (True, ("patch", "statefulsets.apps", "-n", "whatsapp")),
        (True, ("list", "whatsappaccounts.wafleet.io", "-n", "whatsapp")),
        (True, ("list", "namespaces")),  # rbac.clusterDiscovery
        (False, ("patch", "statefulsets.apps", "-n", "default")),
        (False, ("list", "whatsappaccounts.wafleet.io", "-A")),
        (True, ("get", "secrets", "-n", "whatsapp")),
        (False, ("get", "secrets", "-n", "default")),
        (False, ("watch", "secrets", "-n", "default")),
    ]:
        wait_for(
            partial(can_i_is, cluster, expected, check),
            f"can-i {' '.join(check)} == {expected}",
            timeout=30,
        )


# ---------------------------------------------------------------- the HTTP API and the bulk worker

API_SA = f"system:serviceaccount:{RELEASE_NS}:wafleet-api"
BULK_WORKER_SA = f"system:serviceaccount:{RELEASE_NS}:wafleet-bulk-worker"
#: What the API does in the namespace it serves (templates/api.yaml says why) ...
API_ALLOWED = [
    ("get", "whatsappaccounts.wafleet.io", "-n", "shop"),
    ("list", "whatsappaccounts.wafleet.io", "-n", "shop"),
    ("patch", "whatsappaccounts.wafleet.io", "-n", "shop"),  # the snapshot-request annotation
    ("get", "senderpools.wafleet.io", "-n", "shop"),
    ("list", "senderpools.wafleet.io", "-n", "shop"),
    ("get", "leases.coordination.k8s.io", "-n", "shop"),
    ("list", "leases.coordination.k8s.io", "-n", "shop"),
]
#: ... and what it must not: Secrets, status, deletes, watches, other namespaces.
API_FORBIDDEN = [
    ("get", "secrets", "-n", "shop"),
    ("get", "secrets", "-n", RELEASE_NS),
    ("patch", "whatsappaccounts.wafleet.io", "--subresource=status", "-n", "shop"),
    ("delete", "whatsappaccounts.wafleet.io", "-n", "shop"),
    ("create", "whatsappaccounts.wafleet.io", "-n", "shop"),
    ("watch", "whatsappaccounts.wafleet.io", "-n", "shop"),
    ("patch", "senderpools.wafleet.io", "-n", "shop"),
    ("update", "leases.coordination.k8s.io", "-n", "shop"),
    ("list", "whatsappaccounts.wafleet.io", "-n", "default"),
    ("list", "whatsappaccounts.wafleet.io", "-A"),
]
#: The bulk worker talks to AWS only: nothing at all on the API server.
BULK_WORKER_FORBIDDEN = [
    ("list", "whatsappaccounts.wafleet.io", "-A"),
    ("get", "senderpools.wafleet.io", "-n", "shop"),
    ("get", "secrets", "-n", RELEASE_NS),
    ("list", "pods", "-n", RELEASE_NS),
    ("get", "configmaps", "-n", RELEASE_NS),
]


def test_api_and_bulk_worker_install_on_a_real_server(cluster: Cluster) -> None:
    """api.enabled with the bulk worker (it follows api.enabled): every object is accepted
    and stored, the NOTES render, the API's Role is what it needs in the namespace it
    serves and no more, and the worker's ServiceAccount may do nothing and has no token."""
    cluster.create_namespace("shop")
    notes = cluster.run(
        str(HELM), "install", RELEASE, str(CHART), "--namespace", RELEASE_NS,
        "--create-namespace",
        "--set", "api.enabled=true",
        "--set", "api.namespace=shop",
        "--set", "api.keysSecret.name=wafleet-api-keys",
        "--set", "api.outboundTopic=arn:aws:sns:us-east-1:123456789012:wafleet-outbound",
        "--set", "bulk.bucket=wafleet-bulk-uploads",
        "--set", "bulk.worker.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn="
        "arn:aws:iam::123456789012:role/wafleet-bulk-worker",
    )  # fmt: skip
    assert "service/wafleet-api port 80" in notes, notes
    assert "deployment/wafleet-bulk-worker" in notes, notes
    installed = release_objects(cluster)
    assert_all_exist(cluster, installed)
    mine = {
        (
            o["metadata"]["labels"]["app.kubernetes.io/component"],
            o["kind"],
            o["metadata"].get("namespace"),
        )
        for o in installed
        if o["metadata"]["labels"].get("app.kubernetes.io/component") in ("api", "bulk-worker")
    }
    assert mine == {
        ("api", "ServiceAccount", RELEASE_NS),
        ("api", "Deployment", RELEASE_NS),
        ("api", "Service", RELEASE_NS),
        ("api", "Role", "shop"),
        ("api", "RoleBinding", "shop"),
        ("bulk-worker", "ServiceAccount", RELEASE_NS),
        ("bulk-worker", "Deployment", RELEASE_NS),
    }
    for crd in WAFLEET_CRDS:
        wait_for(partial(established, cluster, crd), f"CRD {crd} Established", timeout=60)

    # As the server stored them.
    apps = f"/apis/apps/v1/namespaces/{RELEASE_NS}/deployments"
    worker = cluster.get(f"{apps}/wafleet-bulk-worker").json()
    pod = worker["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "wafleet-bulk-worker"
    assert pod["containers"][0]["args"] == ["bulk-worker"]
    account = cluster.get(f"/api/v1/namespaces/{RELEASE_NS}/serviceaccounts/wafleet-bulk-worker")
    assert account.json()["automountServiceAccountToken"] is False
    annotations = account.json()["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"] == (
        "arn:aws:iam::123456789012:role/wafleet-bulk-worker"
    )
    api = cluster.get(f"{apps}/wafleet-api").json()["spec"]["template"]["spec"]
    assert api["volumes"][0]["secret"]["secretName"] == "wafleet-api-keys"
    env = {e["name"]: e.get("value") for e in api["containers"][0]["env"]}
    assert env["WAFLEET_API_NAMESPACE"] == "shop"

    # The authorizer reads RBAC through informers: poll briefly for the install to show.
    for user, expected, checks in (
        (API_SA, True, API_ALLOWED),
        (API_SA, False, API_FORBIDDEN),
        (BULK_WORKER_SA, False, BULK_WORKER_FORBIDDEN),
    ):
        for check in checks:
            wait_for(
                partial(can_i_is, cluster, expected, check, user),
                f"{user} can-i {' '.join(check)} == {expected}",
                timeout=30,
            )

    # The API's token, as its pod has it: a real read in the namespace it serves, and the
    # server's refusal of a Secret.
    token = cluster.token_for(RELEASE_NS, "wafleet-api")
    with cluster.http(token) as http:
        assert http.get(f"{WAA}/namespaces/shop/whatsappaccounts").status_code == 200
        assert http.get("/api/v1/namespaces/shop/secrets/wafleet-api-keys").status_code == 403
        assert http.get(f"{WAA}/namespaces/default/whatsappaccounts").status_code == 403
