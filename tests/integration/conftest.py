"""The real operator (`wafleet-operator`, kopf) as a subprocess against the real API server.

Each test gets its own namespace (`kube_api.namespace`); `Cluster` defaults
every call to it, and the operator watches only it, so tests never see each
other's accounts.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.harness.devserver import DEV_ACCESS_KEY_ID, DEV_REGION, DEV_SECRET_ACCESS_KEY, free_port
from tests.harness.kube import KubeApi
from tests.harness.moto_server import AwsEndpoint
from tests.harness.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
GROUP, VERSION, PLURAL = "wafleet.io", "v1alpha1", "whatsappaccounts"


WAFLEET = Path(sys.executable).with_name("wafleet")


def run_wafleet(
    kubeconfig: Path, *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """`wafleet ARGS` as a person runs it, against the cluster `kubeconfig` points at."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "COLUMNS": "200"}
    return subprocess.run(
        [str(WAFLEET), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def runner_report(account: str, phase: str, token: int = 1) -> dict[str, Any]:
    """What the runner in pod ``waa-<account>-0`` writes under ``status.runner``."""
    return {
        "phase": phase,
        "holder": f"waa-{account}-0",
        "fencingToken": token,
        "reportedAt": "2026-11-23T12:00:00Z",
    }


@dataclass
class Cluster:
    """Typed clients for the test's namespace, as a user's tooling would use them."""

    api: client.ApiClient
    namespace: str
    core: client.CoreV1Api = field(init=False)
    apps: client.AppsV1Api = field(init=False)
    rbac: client.RbacAuthorizationV1Api = field(init=False)
    coordination: client.CoordinationV1Api = field(init=False)
    custom: client.CustomObjectsApi = field(init=False)

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.rbac = client.RbacAuthorizationV1Api(self.api)
        self.coordination = client.CoordinationV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)

    def create_account(
        self, name: str, spec: dict[str, Any], namespace: str | None = None, **meta: Any
    ) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "WhatsAppAccount",
            "metadata": {"name": name, **meta},
            "spec": spec,
        }
        return self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace or self.namespace, PLURAL, body
        )  # type: ignore[no-any-return]

    def account(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace or self.namespace, PLURAL, name
        )  # type: ignore[no-any-return]

    def patch_account(
        self, name: str, patch: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace or self.namespace, PLURAL, name, patch
        )  # type: ignore[no-any-return]

    def patch_account_status(
        self, name: str, patch: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object_status(  # type: ignore[no-any-return]
            GROUP, VERSION, namespace or self.namespace, PLURAL, name, patch
        )

    def condition(
        self, name: str, kind: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        status = self.account(name, namespace).get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == kind), None)

    def events_for(self, name: str, namespace: str | None = None) -> list[Any]:
        events = self.core.list_namespaced_event(namespace or self.namespace).items
        return [e for e in events if e.involved_object and e.involved_object.name == name]

    def statefulset(self, name: str, namespace: str | None = None) -> Any:
        return self.apps.read_namespaced_stateful_set(f"waa-{name}", namespace or self.namespace)

    def mark_pod_ready(self, account: str, namespace: str | None = None) -> None:
        """Stand in for the kubelet: the account's pod is Running and Ready.

        There is no kubelet here, so the pod the real StatefulSet controller
        creates stays Pending. Reporting it Running with a Ready condition
        through the Pod's status subresource (as a kubelet does) makes the
        controller itself count it in the StatefulSet's readyReplicas; writing
        the StatefulSet's status directly would be reverted by the controller.
        """
        ns = namespace or self.namespace
        pod = f"waa-{account}-0"
        wait_for(lambda: self.core.read_namespaced_pod(pod, ns), f"pod {pod} created", timeout=60)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.core.patch_namespaced_pod_status(
            pod,
            ns,
            {
                "status": {
                    "phase": "Running",
                    "startTime": now,
                    "conditions": [
                        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                        {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                        {"type": "Ready", "status": "True", "lastTransitionTime": now},
                    ],
                }
            },
        )
        wait_for(
            lambda: (self.statefulset(account, ns).status.ready_replicas or 0) >= 1,
            f"the StatefulSet controller counting {pod} ready",
            timeout=60,
        )


def secret(name: str, data: dict[str, bytes]) -> dict[str, Any]:
    """A Secret manifest with `data` base64-encoded, as kubectl would send it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def create_snapshot_secrets(cluster: Cluster, tag: str) -> None:
    """The Secrets an account's `spec.snapshot` names: `kek` (a random key) and `s3`.

    moto takes any S3 keys; these are long and random so that the teardown's
    secret scan (tests/harness/secret_scan.py) looks for them everywhere.
    """
    cluster.core.create_namespaced_secret(cluster.namespace, secret("kek", {"key": os.urandom(32)}))
    cluster.core.create_namespaced_secret(
        cluster.namespace,
        secret(
            "s3",
            {
                "AWS_ACCESS_KEY_ID": f"AKIAWAFLEET{tag.upper()}".encode()[:20],
                "AWS_SECRET_ACCESS_KEY": f"{tag}/secret/{os.urandom(12).hex()}".encode(),
            },
        ),
    )


KUBECTL = REPO / ".tools" / "bin" / "kubectl"


def kubectl(kube_api: KubeApi, *args: str, input_text: str | None = None) -> str:
    """The real kubectl as a user runs it, in the test's namespace; its stdout."""
    done = subprocess.run(
        [str(KUBECTL), *args],
        env=kube_api.env(),
        input=input_text,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def start_snapshotted_account(
    kube_api: KubeApi, cluster: Cluster, aws: AwsEndpoint, *, bucket: str, name: str, manifest: str
) -> str:
    """A bucket, the snapshot Secrets, `kubectl apply -f` of `manifest`, the account Ready,
    and the id of its first snapshot (the one taken right after the login)."""
    aws.client("s3").create_bucket(Bucket=bucket)
    create_snapshot_secrets(cluster, name)
    kubectl(kube_api, "apply", "-f", "-", input_text=manifest)
    kubectl(kube_api, "wait", "--for=condition=Ready", f"waa/{name}", "--timeout=180s")

    def first_snapshot() -> str | None:
        runner = (cluster.account(name).get("status") or {}).get("runner") or {}
        return (runner.get("lastSnapshot") or {}).get("id")

    return str(wait_for(first_snapshot, f"the first snapshot of {name}"))


@dataclass
class OperatorProcess:
    process: subprocess.Popen[str]
    log_path: Path
    metrics_port: int

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def cluster(kube_api: KubeApi, wafleet_crds: None) -> Iterator[Cluster]:
    """Clients for this test's namespace on the real API server, with wafleet's CRDs installed."""
    api = kube_api.client()
    try:
        yield Cluster(api, kube_api.namespace)
    finally:
        api.close()


@pytest.fixture
def operator_env() -> dict[str, str]:
    """Extra environment for the operator; tests may add to it before `operator` starts."""
    return {}


def outbound_operator_env(aws: AwsEndpoint, sync_interval_s: float = 1.0) -> dict[str, str]:
    """The operator's environment for SenderPools on the moto server (its dummy credentials),
    syncing every pool every `sync_interval_s` so tests see scaling within seconds."""
    return {
        "WAFLEET_AWS_ENDPOINT_URL": aws.endpoint_url,
        "WAFLEET_AWS_REGION": DEV_REGION,
        "AWS_ACCESS_KEY_ID": DEV_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEV_SECRET_ACCESS_KEY,
        "WAFLEET_POOL_SYNC_INTERVAL_S": str(sync_interval_s),
    }


HELM = REPO / ".tools" / "bin" / "helm"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


@dataclass
class ChartRbac:
    """The chart's rendered RBAC, installed for this test: the operator's ServiceAccount
    (named as the chart names it, in the test's namespace), its Role or ClusterRole and
    their bindings. Cluster-scoped names get the namespace appended, since tests share
    the control plane. `kubeconfig` authenticates with a TokenRequest token of the
    ServiceAccount, so a process using it has exactly what the chart grants."""

    kube_api: KubeApi
    documents: list[dict[str, Any]]
    service_account: str
    token: str
    kubeconfig: Path

    @classmethod
    def install(cls, kube_api: KubeApi, folder: Path, *helm_args: str) -> ChartRbac:
        ns = kube_api.namespace
        rendered = subprocess.run(
            [
                str(HELM),
                "template",
                "wafleet",
                str(REPO / "charts" / "wafleet"),
                "--namespace",
                ns,
                *helm_args,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        documents = [
            doc for doc in yaml.safe_load_all(rendered) if doc and doc.get("kind") in RBAC_KINDS
        ]
        for doc in documents:
            if (
                doc["kind"] in ("ClusterRole", "ClusterRoleBinding")
                and ns not in doc["metadata"]["name"]
            ):
                doc["metadata"]["name"] += f"-{ns}"
            if doc["kind"] == "ClusterRoleBinding" and ns not in doc["roleRef"]["name"]:
                doc["roleRef"]["name"] += f"-{ns}"
        account = next(d for d in documents if d["kind"] == "ServiceAccount")["metadata"]["name"]
        rbac = cls(kube_api, documents, account, "", folder / "operator.kubeconfig")
        with kube_api.http() as http:
            for doc in documents:
                http.post(rbac._collection(doc), json=doc).raise_for_status()
        rbac.token = kube_api.token_for(account)
        kube_api.kubeconfig_for_token(rbac.token, rbac.kubeconfig)
        return rbac

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.kube_api.namespace}:{self.service_account}"

    def _collection(self, doc: dict[str, Any]) -> str:
        api = "/api/v1" if doc["apiVersion"] == "v1" else f"/apis/{doc['apiVersion']}"
        plural = {"ServiceAccount": "serviceaccounts"}.get(doc["kind"]) or doc["kind"].lower() + "s"
        if doc["kind"].startswith("Cluster"):
            return f"{api}/{plural}"
        return f"{api}/namespaces/{doc['metadata']['namespace']}/{plural}"

    def roles(self) -> list[dict[str, Any]]:
        return [d for d in self.documents if d["kind"] in ("Role", "ClusterRole")]

    def allows(self, group: str, resource: str, verb: str, name: str | None = None) -> bool:
        """What the real authorizer answers for the operator's account (SubjectAccessReview)."""
        attributes: dict[str, Any] = {
            "namespace": self.kube_api.namespace,
            "group": group,
            "resource": resource,
            "verb": verb,
        }
        if name:
            attributes["name"] = name
        resource_name, _, sub = resource.partition("/")
        attributes["resource"] = resource_name
        if sub:
            attributes["subresource"] = sub
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": self.user,
                "groups": ["system:serviceaccounts"],
                "resourceAttributes": attributes,
            },
        }
        with self.kube_api.http() as http:
            answer = http.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review)
        answer.raise_for_status()
        return bool(answer.json()["status"].get("allowed"))

    def withdraw(self, group: str, resource: str, verb: str) -> None:
        """Take `verb` on `resource` out of the operator's Role (as an admin might by mistake),
        and wait until the API server's authorizer refuses it."""
        role = next(d for d in self.documents if d["kind"] == "Role")
        rules = [
            {**rule, "verbs": [v for v in rule["verbs"] if v != verb]}
            if group in rule.get("apiGroups", []) and resource in rule.get("resources", [])
            else rule
            for rule in role["rules"]
        ]
        # A rule left with no verb is invalid (422): drop it.
        self._put_role(role, [rule for rule in rules if rule["verbs"]])
        wait_for(lambda: not self.allows(group, resource, verb), f"{verb} {resource} withdrawn")

    def restore(self) -> None:
        """The Role as the chart renders it again."""
        role = next(d for d in self.documents if d["kind"] == "Role")
        self._put_role(role, role["rules"])

    def _put_role(self, role: dict[str, Any], rules: list[dict[str, Any]]) -> None:
        path = f"{self._collection(role)}/{role['metadata']['name']}"
        with self.kube_api.http() as http:
            http.patch(
                path,
                json={"rules": rules},
                headers={"Content-Type": "application/merge-patch+json"},
            ).raise_for_status()

    def uninstall(self) -> None:
        """Cluster-scoped objects outlive the namespace: delete them."""
        with self.kube_api.http() as http:
            for doc in self.documents:
                if doc["kind"].startswith("Cluster"):
                    http.delete(f"{self._collection(doc)}/{doc['metadata']['name']}")


@pytest.fixture
def operator_identity() -> str:
    """Who the operator runs as: "admin" (default), or the chart's ServiceAccount with the
    RBAC the chart renders for one namespace ("chart-namespace") or the whole cluster
    ("chart-cluster-wide"). Tests choose with @pytest.mark.parametrize("operator_identity", ...)."""
    return "admin"


@pytest.fixture
def chart_rbac(
    kube_api: KubeApi, tmp_path: Path, operator_identity: str
) -> Iterator[ChartRbac | None]:
    """The chart's RBAC for the operator when `operator_identity` asks for it, else None."""
    if operator_identity == "admin":
        yield None
        return
    if not HELM.exists():
        pytest.skip("helm is not installed: run `make tools`")
    args = (
        ()
        if operator_identity == "chart-cluster-wide"
        else ("--set", f"watchNamespaces[0]={kube_api.namespace}")
    )
    rbac = ChartRbac.install(kube_api, tmp_path, *args)
    try:
        yield rbac
    finally:
        rbac.uninstall()


@pytest.fixture
def operator_kubeconfig(kube_api: KubeApi, chart_rbac: ChartRbac | None) -> Path:
    """The kubeconfig the operator runs with: the chart's ServiceAccount's, or the admin's."""
    return chart_rbac.kubeconfig if chart_rbac is not None else kube_api.kubeconfig


@pytest.fixture
def wafleet_operator(
    cluster: Cluster,
    kube_api: KubeApi,
    tmp_path: Path,
    operator_env: dict[str, str],
    operator_identity: str,
    operator_kubeconfig: Path,
) -> Iterator[OperatorProcess]:
    """`wafleet-operator` started as in a pod, watching this test's namespace (all of them for
    "chart-cluster-wide"), as the admin or as the chart's ServiceAccount."""
    log_path = tmp_path / "operator.log"
    metrics_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WAFLEET_")},
        "KUBECONFIG": str(operator_kubeconfig),
        "WAFLEET_NAMESPACE": ""
        if operator_identity == "chart-cluster-wide"
        else kube_api.namespace,
        "WAFLEET_METRICS_PORT": str(metrics_port),
        "WAFLEET_HEALTH_PORT": str(free_port()),
        "WAFLEET_RUNNER_IMAGE": "wafleet/runner:test",
        "WAFLEET_LOG_LEVEL": "debug",
        **operator_env,
    }
    exe = Path(sys.executable).with_name("wafleet-operator")
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [str(exe)], stdout=log, stderr=subprocess.STDOUT, env=env, text=True
        )
    handle = OperatorProcess(process, log_path, metrics_port)
    kube_api.log_files["operator log"] = log_path  # searched for secret values at teardown
    try:
        yield handle
    finally:
        print(f"--- operator log (tail) ---\n{handle.logs()[-6000:]}")  # shown for failed tests
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass
class Refusal:
    """The API server refuses writes of one object with `code`, `times` times (None: until cleared)."""

    resource: str
    name: str
    code: int
    times: int | None
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class AdmissionRefusals:
    """A validating admission webhook, registered with the real API server, that refuses
    chosen writes with a chosen status code.

    A real API server cannot be told to fail, but it does answer with whatever code
    a validating webhook's refusal carries (409, 500 ...), through its ordinary
    admission chain: the operator meets a genuine API error, and everything it
    reads and writes stays real. The webhook is dialled at https://127.0.0.1 (the
    control plane's serving certificate, trusted through `caBundle`) and matches
    only this test's namespace.
    """

    PROBE = "admission-probe"

    def __init__(self, kube_api: KubeApi) -> None:
        self._kube_api = kube_api
        self._lock = threading.Lock()
        self._rules: list[Refusal] = []
        self.name = f"refusals-{kube_api.namespace}"
        pki = kube_api.plane.pki
        assert pki is not None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pki.serving_cert), str(pki.serving_key))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._ca_bundle = base64.b64encode(pki.ca_cert.read_bytes()).decode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        refusals = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                request = review["request"]
                refused = refusals.decide(request["resource"]["resource"], request["name"])
                response: dict[str, Any] = {"uid": request["uid"], "allowed": refused is None}
                if refused is not None:
                    response["status"] = {
                        "code": refused,
                        "message": f"refused by the test's admission webhook ({refused})",
                    }
                body = json.dumps(
                    {
                        "apiVersion": "admission.k8s.io/v1",
                        "kind": "AdmissionReview",
                        "response": response,
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def decide(self, resource: str, name: str) -> int | None:
        """The code to refuse this write with, or None to allow it (counting the hit)."""
        with self._lock:
            for rule in self._rules:
                if rule.resource == resource and rule.name == name and not rule.exhausted:
                    rule.hits += 1
                    return rule.code
        return None

    def refuse(self, resource: str, name: str, code: int, times: int | None = None) -> Refusal:
        """From now on refuse creates and updates of `resource`/`name` in this namespace."""
        rule = Refusal(resource, name, code, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """The API server accepts every write again."""
        with self._lock:
            self._rules.clear()

    def start(self) -> AdmissionRefusals:
        self._thread.start()
        port = self._server.server_address[1]
        resources = [
            "statefulsets",
            "services",
            "serviceaccounts",
            "roles",
            "rolebindings",
            "leases",
            "configmaps",
        ]
        config = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": self.name},
            "webhooks": [
                {
                    "name": "refusals.wafleet.test",
                    "clientConfig": {
                        "url": f"https://127.0.0.1:{port}/validate",
                        "caBundle": self._ca_bundle,
                    },
                    "rules": [
                        {
                            "apiGroups": [
                                "",
                                "apps",
                                "rbac.authorization.k8s.io",
                                "coordination.k8s.io",
                            ],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": resources,
                            "scope": "Namespaced",
                        }
                    ],
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": self._kube_api.namespace}
                    },
                    "failurePolicy": "Fail",
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "timeoutSeconds": 10,
                }
            ],
        }
        with self._kube_api.http() as http:
            http.post(
                "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
                json=config,
            ).raise_for_status()
        self._wait_active()
        return self

    def _wait_active(self) -> None:
        """The API server picks a new webhook up asynchronously: wait until it calls ours."""
        probe = self.refuse("configmaps", self.PROBE, 422)
        path = f"/api/v1/namespaces/{self._kube_api.namespace}/configmaps"
        body = {"metadata": {"name": self.PROBE}}

        def refused() -> bool:
            with self._kube_api.http() as http:
                answer = http.post(path, params={"dryRun": "All"}, json=body)
            return answer.status_code == 422 and "admission webhook" in answer.text

        wait_for(refused, "the admission webhook called by the API server", timeout=60)
        with self._lock:
            self._rules.remove(probe)

    def stop(self) -> None:
        with self._kube_api.http() as http:
            http.delete(
                f"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/{self.name}"
            )
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def refusals(cluster: Cluster, kube_api: KubeApi) -> Iterator[AdmissionRefusals]:
    """Writes the real API server refuses on demand (see AdmissionRefusals)."""
    webhook = AdmissionRefusals(kube_api).start()
    try:
        yield webhook
    finally:
        webhook.stop()
