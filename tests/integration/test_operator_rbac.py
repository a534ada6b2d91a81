"""The chart grants the operator exactly what it uses, in both directions, on a real API server.

The real operator runs a full account lifecycle as the chart's ServiceAccount
(a TokenRequest token), with the RBAC the chart renders installed in the real
API server, which authorizes every request. Its requests pass through a
recording pass-through on the way, and each becomes the (apiGroup, resource,
verb) an authorizer checks. Then:

- used within granted: the lifecycle completed with the real authorizer
  judging every request, no request was refused (403), and every request the
  operator made is allowed by the roles the chart renders (where it was made:
  a namespaced request by the Role of its namespace or a ClusterRole, a
  cluster-scoped one by a ClusterRole only);
- granted within used plus NECESSARY_EXTRAS: the chart grants nothing else,
  except what the operator needs but a recording of its requests cannot show,
  each entry saying why.

Run for both RBAC shapes the chart renders: cluster-wide (a ClusterRole) and
watching a namespace list (a Role per namespace plus the read-only discovery
ClusterRole); kopf itself behaves differently in the two (it lists and watches
namespaces only when it serves a list of them).

Each runner's ServiceAccount is checked the same way: with its own token, real
requests show it can touch only its own Lease and its own account.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.harness.kube import KubeApi
from tests.harness.moto_server import AwsEndpoint
from tests.integration.conftest import (
    HELM,
    ChartRbac,
    Cluster,
    OperatorProcess,
    outbound_operator_env,
    runner_report,
    wait_for,
)
from tests.integration.outbound.test_sender_pool_operator import create_pool
from tests.integration.outbound.test_sender_pool_operator import pool as pool_of
from tests.integration.outbound.test_sender_pool_operator import ready as pool_ready_condition
from tests.integration.test_operator_account import (
    ACCESS_KEY_VALUE,
    LOCAL,
    SECRET_ACCESS_VALUE,
    SECRET_KEY_VALUE,
    children_exist,
    confirm_pod_gone,
    keys,
    make_secret,
    no_children,
    phase,
    seed_snapshots,
    snapshot_spec,
)
from wafleet_operator.api.sender_pool import SenderPoolScaling, SenderPoolSpec
from wafleet_operator.config import OperatorSettings
from wafleet_operator.kube import kind_of
from wafleet_operator.specs import build_children
from wafleet_operator.specs.account import AccountRef
from wafleet_operator.specs.rbac import role_rules
from wafleet_operator.specs.sender import PoolRef, SenderWiring, build_sender_children
from wafleet_operator.validation import parse_spec

OPERATOR_AGENTS = ("kopf/", "wafleet-operator/")

#: (apiGroup, resource, verb) as an authorizer sees a request.
Attributes = tuple[str, str, str]

CREATED_BY_APPLY = (
    "children are server-side applied: the request is a PATCH, but the API "
    "server also authorizes an apply that creates the object as create"
)
RUNNER_GRANT = (
    "granted to each runner's Role (specs/rbac.py role_rules); RBAC escalation "
    "prevention lets the operator create a Role only with permissions it holds itself"
)
OWNER_FINALIZERS = (
    "children's ownerReferences set blockOwnerDeletion, which the "
    "OwnerReferencesPermissionEnforcement admission plugin (on by default in many "
    "distributions, and in the test control plane) allows only to whoever may update the "
    "owner's finalizers; no request of the operator shows it, the refusal without it does "
    "(test_without_the_finalizers_grant_no_child_is_created)"
)
PEERING = (
    "kopf peering, used only with more than one operator replica (WAFLEET_PEERING); "
    "the operator under test is one standalone replica"
)

KEDA_ONLY = (
    "applies the ScaledObject of a pool with spec.scaling.provider keda; the test control "
    "plane has no KEDA CRDs, so only the delete (on a switch back) shows in the recording"
)

#: What the chart may grant beyond what the recording shows, and why it is needed.
NECESSARY_EXTRAS: dict[Attributes, str] = {
    ("apps", "deployments", "create"): CREATED_BY_APPLY,
    ("policy", "poddisruptionbudgets", "create"): CREATED_BY_APPLY,
    ("keda.sh", "scaledobjects", "create"): KEDA_ONLY,
    ("keda.sh", "scaledobjects", "patch"): KEDA_ONLY,
    ("wafleet.io", "senderpools/finalizers", "update"): OWNER_FINALIZERS,
    ("apps", "statefulsets", "create"): CREATED_BY_APPLY,
    ("", "services", "create"): CREATED_BY_APPLY,
    ("", "serviceaccounts", "create"): CREATED_BY_APPLY,
    ("rbac.authorization.k8s.io", "roles", "create"): CREATED_BY_APPLY,
    ("rbac.authorization.k8s.io", "rolebindings", "create"): CREATED_BY_APPLY,
    ("coordination.k8s.io", "leases", "create"): CREATED_BY_APPLY,
    # The runner claims its Lease with an update conditional on resourceVersion.
    ("coordination.k8s.io", "leases", "update"): RUNNER_GRANT,
    # The runner reads its own status before patching its report into it.
    ("wafleet.io", "whatsappaccounts/status", "get"): RUNNER_GRANT,
    ("wafleet.io", "whatsappaccounts/finalizers", "update"): OWNER_FINALIZERS,
    ("kopf.dev", "clusterkopfpeerings", "list"): PEERING,
    ("kopf.dev", "clusterkopfpeerings", "watch"): PEERING,
    ("kopf.dev", "clusterkopfpeerings", "patch"): PEERING,
    ("kopf.dev", "kopfpeerings", "list"): PEERING,
    ("kopf.dev", "kopfpeerings", "watch"): PEERING,
    ("kopf.dev", "kopfpeerings", "patch"): PEERING,
}


@dataclass(frozen=True)
class RenderedRole:
    """One Role (namespace set) or ClusterRole (namespace None) the chart renders."""

    namespace: str | None
    rules: list[dict[str, Any]]


def rendered_roles(rbac: ChartRbac) -> list[RenderedRole]:
    """The Roles and ClusterRoles the chart rendered, as installed in the API server."""
    return [
        RenderedRole(
            doc["metadata"].get("namespace") if doc["kind"] == "Role" else None,
            list(doc["rules"]),
        )
        for doc in rbac.roles()
    ]


@dataclass
class Recorded:
    """One request as it reached the API server, and the status code it answered (0: none yet)."""

    method: str
    path: str
    query: dict[str, str]
    user_agent: str
    status: int = 0


class RecordingPassThrough:
    """Plain HTTP on 127.0.0.1 to the API server's HTTPS, streaming, recording each request.

    Only a recording: every request goes to the real API server unchanged, with
    the client's own bearer token, so the server authenticates and authorizes it
    (tests/faults/proxy.py cannot stand here: it buffers whole answers, so kopf's
    watch streams would never deliver an event). A request is recorded when it
    arrives, so a watch is recorded while it is still open.
    """

    DROPPED = frozenset(
        {
            "host",
            "connection",
            "keep-alive",
            "transfer-encoding",
            "content-length",
            "accept-encoding",
            "proxy-connection",
            "upgrade",
            "te",
            "trailer",
        }
    )

    def __init__(self, kube_api: KubeApi) -> None:
        pki = kube_api.plane.pki
        assert pki is not None
        self._upstream = kube_api.url
        self._ca = str(pki.ca_cert)
        self.records: list[Recorded] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._open: set[asyncio.Task[Any]] = set()
        self.url = ""

    def start(self) -> RecordingPassThrough:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._startup(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _startup(self) -> None:
        import ssl

        trust = ssl.create_default_context(cafile=self._ca)  # no client certificate: tokens only
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=trust),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            auto_decompress=False,
        )
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server  # aiohttp has no public accessor for the bound port
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    async def _shutdown(self) -> None:
        # Open watches would hold cleanup until the server ends them: cancel them first.
        for task in list(self._open):
            task.cancel()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        record = Recorded(
            request.method, request.path, dict(request.query), request.headers.get("User-Agent", "")
        )
        self.records.append(record)
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        try:
            return await self._forward(request, record)
        finally:
            self._open.discard(task)

    async def _forward(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in self.DROPPED}
        async with self._session.request(
            request.method,
            self._upstream + request.path_qs,
            headers=headers,
            data=body or None,  # an empty body would go out as application/octet-stream (415)
            allow_redirects=False,
        ) as upstream:
            record.status = upstream.status
            answer = web.StreamResponse(
                status=upstream.status,
                headers={
                    k: v for k, v in upstream.headers.items() if k.lower() not in self.DROPPED
                },
            )
            await answer.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await answer.write(chunk)
                await answer.write_eof()
            except (ConnectionResetError, aiohttp.ClientError):
                pass  # the client closed a watch it no longer needs, or we are stopping
            return answer


@pytest.fixture
def recorder(kube_api: KubeApi) -> Iterator[RecordingPassThrough]:
    proxy = RecordingPassThrough(kube_api).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def operator_kubeconfig(
    kube_api: KubeApi, chart_rbac: ChartRbac | None, recorder: RecordingPassThrough, tmp_path: Path
) -> Path:
    """Here the operator reaches the API server through the recorder, with the chart's token."""
    assert chart_rbac is not None, "these tests run the operator as the chart's ServiceAccount"
    return kube_api.kubeconfig_for_server(
        recorder.url, tmp_path / "recorded.kubeconfig", token=chart_rbac.token
    )


def request_attributes(method: str, path: str, query: dict[str, str]) -> Attributes | None:
    """(apiGroup, resource[/subresource], verb) as the authorizer sees the request; None for discovery."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    resource, name, sub = (
        rest[0],
        rest[1] if len(rest) > 1 else None,
        rest[2] if len(rest) > 2 else None,
    )
    if method == "GET":
        verb = "get" if name else ("watch" if query.get("watch") in ("true", "1") else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
        if method == "DELETE" and not name:
            verb = "deletecollection"
    return group, f"{resource}/{sub}" if sub else resource, verb


def request_namespace(path: str) -> str | None:
    """The namespace a request is made in; None for cluster-scoped and all-namespace requests."""
    parts = [p for p in path.split("/") if p]
    rest = parts[2:] if parts[:2] == ["api", "v1"] else parts[3:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        return rest[1]
    return None


def grants_of(rules: list[dict[str, Any]]) -> set[Attributes]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def allowed(roles: list[RenderedRole], namespace: str | None, attrs: Attributes) -> bool:
    """Whether a request in `namespace` (None: cluster scope) is allowed by any applicable role."""
    return any(
        attrs in grants_of(role.rules)
        for role in roles
        if role.namespace is None or role.namespace == namespace
    )


def run_lifecycle(cluster: Cluster, aws: AwsEndpoint) -> None:
    """Everything the operator does for one account: create, a runner report, suspend,
    drift, delete with deletionPolicy Delete (the pod looked up, the credentials Secret
    read, the prefix deleted)."""
    ns = cluster.namespace
    make_secret(cluster, "kek", {"key": SECRET_KEY_VALUE})
    make_secret(
        cluster,
        "s3-creds",
        {"AWS_ACCESS_KEY_ID": ACCESS_KEY_VALUE, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_VALUE},
    )
    created = cluster.create_account("rbac", snapshot_spec(aws, "Delete"))
    s3 = seed_snapshots(aws, ns, "rbac", created["metadata"]["uid"])
    wait_for(lambda: children_exist(cluster, "rbac"), "children")
    # A runner report is handled without applying children: the operator reads them.
    report = runner_report("rbac", "AwaitingLogin")
    cluster.patch_account_status("rbac", {"status": {"runner": report}})
    wait_for(lambda: phase(cluster, "rbac") == "AwaitingLogin", "the runner's report")
    cluster.patch_account("rbac", {"spec": {"suspended": True}})
    wait_for(lambda: phase(cluster, "rbac") == "Suspended", "suspended")
    confirm_pod_gone(cluster, "rbac")
    cluster.core.delete_namespaced_service("waa-rbac", ns, _preload_content=False)
    wait_for(lambda: cluster.core.read_namespaced_service("waa-rbac", ns), "service recreated")
    cluster.custom.delete_namespaced_custom_object(
        "wafleet.io", "v1alpha1", ns, "whatsappaccounts", "rbac"
    )
    # GC of a CRD's objects can take ~40 s the first time after the CRD was created.
    wait_for(lambda: no_children(cluster, "rbac"), "deleted", timeout=120)
    own = [k for k in keys(s3) if k.startswith(f"prod/{ns}/rbac/")]
    assert own == [], "the finalizer ran with the chart's permissions and deleted the snapshots"
    run_pool_lifecycle(cluster, aws)


@pytest.fixture
def operator_env(aws: AwsEndpoint) -> dict[str, str]:
    return outbound_operator_env(aws)


def pool_ready(cluster: Cluster, name: str) -> bool:
    return pool_ready_condition(cluster, name).get("status") == "True"


def run_pool_lifecycle(cluster: Cluster, aws: AwsEndpoint) -> None:
    """Everything the operator does for one SenderPool: create (queues, senders, their
    ServiceAccount), scale from the queue, delete (the finalizer removes the queues)."""
    make_secret(cluster, "twilio", {"accountSid": "AC1", "authToken": SECRET_KEY_VALUE})
    spec = {
        "vendor": "twilio",
        "target": f"rbac-{cluster.namespace}",
        "credentialsSecret": {"name": "twilio"},
        "backlogPerReplica": 1,
    }
    create_pool(cluster, "rbac", spec)
    wait_for(lambda: pool_ready(cluster, "rbac"), "the pool ready", timeout=60)
    sns = aws.client("sns")
    topic = sns.create_topic(Name="wafleet-outbound")["TopicArn"]
    sns.publish(
        TopicArn=topic,
        Message="{}",
        MessageAttributes={"target": {"DataType": "String", "StringValue": spec["target"]}},
    )
    wait_for(
        lambda: cluster.apps.read_namespaced_deployment("sp-rbac", cluster.namespace).spec.replicas,
        "the senders scaled up",
        timeout=60,
    )
    queue = pool_of(cluster, "rbac")["status"]["queueUrl"]
    cluster.custom.delete_namespaced_custom_object(
        "wafleet.io", "v1alpha1", cluster.namespace, "senderpools", "rbac"
    )
    wait_for(
        lambda: queue not in aws.client("sqs").list_queues().get("QueueUrls", []),
        "the pool's queue deleted by the finalizer",
        timeout=60,
    )


@pytest.mark.skipif(not HELM.exists(), reason="helm is not installed: run `make tools`")
@pytest.mark.parametrize(
    ("operator_identity", "watches_namespaces"),
    [("chart-cluster-wide", False), ("chart-namespace", True)],
    ids=["cluster-wide", "one-namespace"],
)
def test_the_chart_grants_exactly_what_the_operator_uses(
    cluster: Cluster,
    aws: AwsEndpoint,
    operator_identity: str,
    watches_namespaces: bool,
    chart_rbac: ChartRbac,
    recorder: RecordingPassThrough,
    wafleet_operator: OperatorProcess,
) -> None:
    run_lifecycle(cluster, aws)
    ours = [r for r in recorder.records if r.user_agent.startswith(OPERATOR_AGENTS)]
    # The real authorizer judged every request: none was refused. (Cluster-wide, the
    # operator also meets accounts of earlier tests whose namespaces are being deleted,
    # where the API server forbids new content whoever asks: only this test's namespace
    # and cluster-scoped requests say something about the chart.)
    refused = sorted(
        {
            (r.method, r.path)
            for r in ours
            if r.status == 403 and request_namespace(r.path) in (None, cluster.namespace)
        }
    )
    assert refused == [], f"the API server refused the chart's account: {refused}"
    requests = {
        (request_namespace(record.path), attrs)
        for record in ours
        if (attrs := request_attributes(record.method, record.path, record.query)) is not None
    }
    used = {attrs for _, attrs in requests}
    # The scenario really ran through the operator, down to its quieter paths.
    assert {
        ("apps", "statefulsets", "patch"),
        ("apps", "statefulsets", "get"),
        ("coordination.k8s.io", "leases", "get"),
        ("", "secrets", "get"),
        ("", "pods", "get"),
        ("wafleet.io", "whatsappaccounts", "get"),
    } <= used
    # Secrets are read by name only: never listed, never watched.
    assert not {("", "secrets", "list"), ("", "secrets", "watch")} & used
    assert (("", "namespaces", "watch") in used) is watches_namespaces

    roles = rendered_roles(chart_rbac)
    denied = sorted((ns or "", *attrs) for ns, attrs in requests if not allowed(roles, ns, attrs))
    assert denied == [], f"the chart does not allow: {denied}"

    # RBAC escalation prevention: the API server let the operator create the runner's Role
    # (the lifecycle above), which it allows only when the operator holds all of it.
    runner_role = role_rules(
        AccountRef(name="rbac", namespace=cluster.namespace, uid="u", generation=1)
    )
    not_held = sorted(a for a in grants_of(runner_role) if not allowed(roles, cluster.namespace, a))
    assert not_held == [], f"the runner's Role grants what the operator does not hold: {not_held}"

    granted = set().union(*(grants_of(role.rules) for role in roles))
    unused = sorted(granted - used - NECESSARY_EXTRAS.keys())
    assert unused == [], f"the chart grants what the operator never uses: {unused}"


@pytest.mark.parametrize("operator_identity", ["chart-namespace"])
def test_a_runner_can_touch_only_its_own_lease_and_its_own_account(
    cluster: Cluster, kube_api: KubeApi, wafleet_operator: OperatorProcess
) -> None:
    """The runner's ServiceAccount, as its pod uses it (a TokenRequest token of ``waa-<name>``),
    against the real authorizer: its own Lease and its own account's status, nothing else.

    A runner runs a browser on untrusted content; if it is compromised it must not reach
    another tenant's Lease or account, conjure a fresh Lease (a fresh fencing token), or
    change its own spec.
    """
    for name in ("ann", "ben"):
        cluster.create_account(name, LOCAL)
    for name in ("ann", "ben"):
        wait_for(lambda name=name: children_exist(cluster, name), f"children of {name}")
    ns = cluster.namespace
    leases = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
    accounts = f"/apis/wafleet.io/v1alpha1/namespaces/{ns}/whatsappaccounts"
    merge = {"Content-Type": "application/merge-patch+json"}
    holder = {"spec": {"holderIdentity": "waa-ann-0_test"}}
    report = {"status": {"runner": runner_report("ann", "AwaitingLogin")}}
    event = {
        "metadata": {"generateName": "ann-"},
        "involvedObject": {
            "apiVersion": "wafleet.io/v1alpha1",
            "kind": "WhatsAppAccount",
            "name": "ann",
            "namespace": ns,
        },
        "reason": "StreamReplaced",
        "message": "another client took the session",
        "type": "Warning",
    }
    with kube_api.http(token=kube_api.token_for("waa-ann")) as http:

        def code(method: str, path: str, **kwargs: Any) -> int:
            return http.request(method, path, **kwargs).status_code

        # Its own Lease: read, renew (patch), claim (an update conditional on resourceVersion).
        assert code("GET", f"{leases}/waa-ann") == 200
        assert code("PATCH", f"{leases}/waa-ann", json=holder, headers=merge) == 200
        assert code("PUT", f"{leases}/waa-ann", json=http.get(f"{leases}/waa-ann").json()) == 200
        # Never another's Lease, never a new one, never deleting its own, no listing.
        assert code("GET", f"{leases}/waa-ben") == 403
        assert code("PATCH", f"{leases}/waa-ben", json=holder, headers=merge) == 403
        assert code("POST", leases, json={"metadata": {"name": "waa-ann-2"}, "spec": {}}) == 403
        assert code("DELETE", f"{leases}/waa-ann") == 403
        assert code("GET", leases) == 403

        # Its own account: read it, watch it (only with the field selector naming it).
        assert code("GET", f"{accounts}/ann") == 200
        own_watch = {"watch": "true", "fieldSelector": "metadata.name=ann", "timeoutSeconds": "1"}
        assert code("GET", accounts, params=own_watch) == 200
        assert code("GET", accounts, params={"watch": "true", "timeoutSeconds": "1"}) == 403
        assert code("GET", accounts) == 403
        assert code("GET", f"{accounts}/ben") == 403
        # Its own status: read it and report into it; never another account's.
        assert code("GET", f"{accounts}/ann/status") == 200
        assert code("PATCH", f"{accounts}/ann/status", json=report, headers=merge) == 200
        assert code("PATCH", f"{accounts}/ben/status", json=report, headers=merge) == 403
        # Never its own spec or metadata (lifting its own fence), never deleting it.
        unfence = {"metadata": {"annotations": {"wafleet.io/fenced": None}}}
        assert code("PATCH", f"{accounts}/ann", json=unfence, headers=merge) == 403
        assert code("DELETE", f"{accounts}/ann") == 403

        # Events on its account (conflicts it records); nothing else in the namespace.
        assert code("POST", f"/api/v1/namespaces/{ns}/events", json=event) == 201
        assert code("GET", f"/api/v1/namespaces/{ns}/secrets") == 403
        assert code("GET", f"/apis/apps/v1/namespaces/{ns}/statefulsets/waa-ann") == 403
        assert code("GET", f"/api/v1/namespaces/{ns}/serviceaccounts/waa-ann") == 403
    assert (cluster.account("ann").get("status") or {}).get("runner", {}).get("phase") == (
        "AwaitingLogin"
    )


def test_every_necessary_extra_is_still_necessary() -> None:
    """The extras list cannot go stale: each entry is checked against the reason it gives."""
    account = AccountRef(name="a", namespace="ns", uid="u", generation=1)
    spec, _ = parse_spec({"phoneNumber": "+14155550100", "engine": "local"})
    assert spec is not None
    settings = OperatorSettings(runner_image="wafleet/runner:t")
    children = build_children(account, spec, settings)
    pool = PoolRef(name="p", namespace="ns", uid="u", generation=1)
    pool_spec = SenderPoolSpec.model_validate(
        {"vendor": "twilio", "target": "t", "credentialsSecret": {"name": "c"}}
    )
    wiring = SenderWiring("http://q", "http://q-dlq", "ledger", "us-east-1")
    pool_children = build_sender_children(pool, pool_spec, settings, wiring, replicas=0)
    keda_spec = pool_spec.model_copy(update={"scaling": SenderPoolScaling(provider="keda")})
    keda_children = build_sender_children(pool, keda_spec, settings, wiring)
    applied = {
        (c["apiVersion"].rpartition("/")[0], kind_of(c["apiVersion"], c["kind"]).plural)
        for c in [*children, *pool_children]
    }
    keda_applied = {
        (c["apiVersion"].rpartition("/")[0], kind_of(c["apiVersion"], c["kind"]).plural)
        for c in keda_children
    } - applied
    by_reason: dict[str, set[Attributes]] = {}
    for attrs, reason in NECESSARY_EXTRAS.items():
        by_reason.setdefault(reason, set()).add(attrs)
    # create, and only create, on exactly the kinds the operator applies.
    assert by_reason[CREATED_BY_APPLY] == {(g, r, "create") for g, r in applied}
    # What the runner's Role really grants (senders get no Role: they never call the API).
    assert by_reason[RUNNER_GRANT] <= grants_of(role_rules(account))
    assert not {c["kind"] for c in pool_children} & {"Role", "RoleBinding"}
    # Only KEDA pools apply a ScaledObject (create and patch).
    assert by_reason[KEDA_ONLY] == {
        (g, r, verb) for g, r in keda_applied for verb in ("create", "patch")
    }
    # Every child really blocks its owner's deletion.
    assert all(
        c["metadata"]["ownerReferences"][0]["blockOwnerDeletion"]
        for c in [*children, *pool_children]
    )
    assert by_reason[OWNER_FINALIZERS] == {
        ("wafleet.io", "whatsappaccounts/finalizers", "update"),
        ("wafleet.io", "senderpools/finalizers", "update"),
    }
    assert {g for g, _, _ in by_reason[PEERING]} == {"kopf.dev"}


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/default/secrets/kek", {}, ("", "secrets", "get")),
        ("GET", "/api/v1/secrets", {"watch": "true"}, ("", "secrets", "watch")),
        ("GET", "/apis/apps/v1/statefulsets", {}, ("apps", "statefulsets", "list")),
        (
            "PATCH",
            "/apis/wafleet.io/v1alpha1/namespaces/d/whatsappaccounts/a/status",
            {},
            ("wafleet.io", "whatsappaccounts/status", "patch"),
        ),
        ("POST", "/api/v1/namespaces/d/events", {}, ("", "events", "create")),
        ("GET", "/api/v1/namespaces", {"watch": "true"}, ("", "namespaces", "watch")),
        ("GET", "/apis", {}, None),
        ("GET", "/version", {}, None),
    ],
)
def test_request_attributes(
    method: str, path: str, query: dict[str, str], expected: Attributes | None
) -> None:
    assert request_attributes(method, path, query) == expected


@pytest.mark.parametrize(
    ("path", "namespace"),
    [
        ("/api/v1/namespaces/default/secrets/kek", "default"),
        ("/api/v1/namespaces/d/events", "d"),
        ("/apis/wafleet.io/v1alpha1/namespaces/d/whatsappaccounts/a/status", "d"),
        ("/api/v1/secrets", None),
        ("/api/v1/namespaces", None),
        ("/api/v1/namespaces/default", None),
        ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", None),
    ],
)
def test_request_namespace(path: str, namespace: str | None) -> None:
    assert request_namespace(path) == namespace
