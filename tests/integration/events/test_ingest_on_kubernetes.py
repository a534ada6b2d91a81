"""The ingest as the chart deploys it: pools' webhook secrets from the real API server, read
with exactly the RBAC the chart renders for the ingest's ServiceAccount.

A SenderPool and its credentials Secret exist in the test's namespace; the ingest runs as
`wafleet-runner ingest` does (`ingest.main.run` from `IngestSettings`, `secrets_source`
"kubernetes", the events topic given by name as the chart gives it) with a kubeconfig
holding a TokenRequest token of the chart's `wafleet-ingest` ServiceAccount, whose Role
(watched namespaces) or ClusterRole (all namespaces) is the chart's, installed as rendered
(`ChartRbac`). moto's SNS, SQS and DynamoDB are behind it; what a test asserts is what
the dispatcher would find on its queue.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
import yaml

from session_runner.contract.ingest_settings import IngestSettings
from session_runner.events.event import Event, EventType, Source, event_id
from session_runner.events.pipeline import EventsPipeline, ensure_events_pipeline, pipeline_names
from session_runner.ingest.main import run
from session_runner.ingest.server import EMPTY_TWIML
from session_runner.sender.ledger import client_config, ensure_table
from tests.harness.devserver import DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY, free_port
from tests.harness.kube import KubeApi
from tests.harness.moto_server import AwsEndpoint
from tests.harness.secret_scan import describe, find_leaks
from tests.harness.vendor_standins.twilio import signature as twilio_signature
from tests.harness.waiting import wait_for
from tests.integration.conftest import HELM, REPO, ChartRbac, Cluster, secret

TABLE = "wafleet-outbound-ledger"
POOL, CREDENTIALS = "tw", "tw-credentials"
#: Long and random-looking, so the secret scans would find any form of them.
AUTH_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
ROTATED_TOKEN = "f0e9d8c7b6a5948372615a4b3c2d1e0f"
ACCOUNT_SID = "AC5f1e2d3c4b5a69788796a5b4c3d2e1f0"
TO = "+4915112345678"


def senderpool(name: str, secret_name: str, vendor: str = "twilio") -> dict[str, Any]:
    return {
        "apiVersion": "wafleet.io/v1alpha1",
        "kind": "SenderPool",
        "metadata": {"name": name},
        "spec": {
            "vendor": vendor,
            "target": f"{name}-target",
            "credentialsSecret": {"name": secret_name},
        },
    }


def status_form(sid: str, status: str = "delivered") -> dict[str, str]:
    """A Twilio status callback's form (the fields the stand-in posts)."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "ChannelPrefix": "whatsapp",
        "From": "whatsapp:+15550001111",
        "MessageSid": sid,
        "MessageStatus": status,
        "To": f"whatsapp:{TO}",
    }


@dataclass
class KubeIngest:
    base_url: str
    namespace: str
    pipeline: EventsPipeline
    sqs: Any
    cluster: Cluster
    rbac: ChartRbac

    def url(self, vendor: str, pool: str = POOL, namespace: str | None = None) -> str:
        return f"{self.base_url}/{vendor}/{namespace or self.namespace}/{pool}"

    async def post_twilio(
        self, url: str, form: dict[str, str], token: str | None
    ) -> tuple[int, str]:
        """Post `form` to `url`, signed with `token` over that URL (None: unsigned)."""
        headers = (
            {} if token is None else {"X-Twilio-Signature": twilio_signature(token, url, form)}
        )
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=form, headers=headers) as answer,
        ):
            return answer.status, await answer.text()

    async def events(self) -> list[Event]:
        """Every event waiting on the dispatcher's queue (taken off it)."""
        return await asyncio.to_thread(self._drain)

    def _drain(self) -> list[Event]:
        url = self.pipeline.queue_url
        events: list[Event] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not batch:
                return events
            for message in batch:
                events.append(Event.from_json(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def set_token(self, token: str) -> None:
        """Rotate the pool's auth token in its Secret, as `kubectl apply` of a new one would."""
        data = {"authToken": base64.b64encode(token.encode()).decode()}
        self.cluster.core.patch_namespaced_secret(CREDENTIALS, self.namespace, {"data": data})


@pytest.fixture
def chart_ingest_rbac(
    kube_api: KubeApi, cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ChartRbac]:
    """The chart's ingest ServiceAccount and RBAC (only templates/ingest.yaml's), installed as
    rendered: a Role in the watched namespace ("namespaced"), or a ClusterRole ("cluster-wide")."""
    if not HELM.exists():
        pytest.skip("helm is not installed: run `make tools`")
    scope = getattr(request, "param", "namespaced")
    args = ["--show-only", "templates/ingest.yaml", "--set", "ingest.enabled=true"]
    args += ["--set", "ingest.publicBaseUrl=https://hooks.example.com"]
    if scope == "namespaced":
        args += ["--set", f"watchNamespaces[0]={kube_api.namespace}"]
    rbac = ChartRbac.install(kube_api, tmp_path / "ingest", *args)
    try:
        assert rbac.service_account == "wafleet-ingest"
        # The authorizer sees new bindings through its informers: wait until it does.
        wait_for(lambda: rbac.allows("wafleet.io", "senderpools", "get"), "the ingest's Role")
        yield rbac
    finally:
        rbac.uninstall()


@pytest.fixture
def cache_seconds() -> float:
    return 30.0


@pytest.fixture
async def kube_ingest(
    aws: AwsEndpoint,
    kube_api: KubeApi,
    cluster: Cluster,
    chart_ingest_rbac: ChartRbac,
    cache_seconds: float,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[KubeIngest]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEV_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEV_SECRET_ACCESS_KEY)
    # As in a pod: the API server with the ServiceAccount's token (not in-cluster here).
    monkeypatch.setenv("KUBECONFIG", str(chart_ingest_rbac.kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    names = pipeline_names("wafleet")
    sqs = aws.client("sqs")
    pipeline = ensure_events_pipeline(aws.client("sns"), sqs, names.topic, names.queue)
    dynamodb = boto3.client("dynamodb", config=client_config(2.0), **aws.server.client_kwargs())
    ensure_table(dynamodb, TABLE)

    ns = kube_api.namespace
    credentials = {"accountSid": ACCOUNT_SID.encode(), "authToken": AUTH_TOKEN.encode()}
    with kube_api.http() as http:
        http.post(
            f"/api/v1/namespaces/{ns}/secrets", json=secret(CREDENTIALS, credentials)
        ).raise_for_status()
    cluster.custom.create_namespaced_custom_object(
        "wafleet.io", "v1alpha1", ns, "senderpools", senderpool(POOL, CREDENTIALS)
    )

    port = free_port()
    # What the chart renders into WAFLEET_INGEST_NAMESPACES: the watched namespaces, or all.
    served = sorted(
        {d["metadata"]["namespace"] for d in chart_ingest_rbac.roles() if d["kind"] == "Role"}
    )
    settings = IngestSettings(
        public_base_url=f"http://127.0.0.1:{port}",
        events_topic_arn=names.topic,  # a name, as the chart gives it
        ledger_table=TABLE,
        aws_endpoint_url=aws.endpoint_url,
        host="127.0.0.1",
        port=port,
        secrets_source="kubernetes",
        secrets_cache_seconds=cache_seconds,
        namespaces=",".join(served),
        health_port=0,
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(run(settings, stop, ready))
    async with asyncio.timeout(20):
        await ready.wait()
    try:
        yield KubeIngest(settings.public_base_url, ns, pipeline, sqs, cluster, chart_ingest_rbac)
    finally:
        stop.set()
        await server


@pytest.mark.parametrize("chart_ingest_rbac", ["namespaced", "cluster-wide"], indirect=True)
async def test_a_signed_twilio_callback_is_accepted_and_an_unsigned_one_refused(
    kube_ingest: KubeIngest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = kube_ingest.url("twilio") + "?wafleet_message_id=order-1"
    form = status_form("SM0001")
    answers = {
        "signed": await kube_ingest.post_twilio(url, form, AUTH_TOKEN),
        "unsigned": await kube_ingest.post_twilio(url, form, None),
        "another token": await kube_ingest.post_twilio(url, form, "0" * 32),
        "unknown pool": await kube_ingest.post_twilio(
            kube_ingest.url("twilio", "no-such-pool"), form, AUTH_TOKEN
        ),
    }
    assert answers == {
        "signed": (200, EMPTY_TWIML),
        "unsigned": (403, "forbidden\n"),
        "another token": (403, "forbidden\n"),
        "unknown pool": (404, "unknown pool\n"),
    }
    [event] = await kube_ingest.events()
    assert event.id == event_id(Source.TWILIO, "SM0001", EventType.DELIVERED)
    assert (event.type, event.message_id, event.namespace, event.pool) == (
        EventType.DELIVERED,
        "order-1",
        kube_ingest.namespace,
        POOL,
    )
    texts = {"logs": caplog.text, **{case: text for case, (_, text) in answers.items()}}
    leaks = find_leaks({"auth token": AUTH_TOKEN.encode(), "sid": ACCOUNT_SID.encode()}, texts)
    assert not leaks, describe(leaks)


async def test_only_the_vendors_keys_count_and_a_pool_needs_its_secret(
    kube_ingest: KubeIngest,
) -> None:
    """A Twilio pool's token does not open its Meta route; a pool whose Secret is missing is
    unknown (404); a session pool has no webhook secrets (403)."""
    ns = kube_ingest.namespace
    custom = kube_ingest.cluster.custom
    custom.create_namespaced_custom_object(
        "wafleet.io", "v1alpha1", ns, "senderpools", senderpool("tw-nosecret", "not-there")
    )
    session_pool = senderpool("sess", "unused", vendor="session")
    del session_pool["spec"]["credentialsSecret"]
    session_pool["spec"]["accountRef"] = {"name": "demo"}
    custom.create_namespaced_custom_object(
        "wafleet.io", "v1alpha1", ns, "senderpools", session_pool
    )
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    digest = hmac.new(AUTH_TOKEN.encode(), body, hashlib.sha256).hexdigest()
    async with aiohttp.ClientSession() as http:
        async with http.post(
            kube_ingest.url("meta"),
            data=body,
            headers={"X-Hub-Signature-256": f"sha256={digest}"},
        ) as answer:
            meta_route = answer.status
        async with http.get(
            kube_ingest.url("meta"),
            params={"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": AUTH_TOKEN},
        ) as answer:
            handshake = answer.status
    form = status_form("SM0002")
    missing = await kube_ingest.post_twilio(kube_ingest.url("twilio", "tw-nosecret"), form, "x")
    session = await kube_ingest.post_twilio(kube_ingest.url("twilio", "sess"), form, AUTH_TOKEN)
    assert (meta_route, handshake, missing[0], session[0]) == (403, 403, 404, 403)
    assert await kube_ingest.events() == []


async def test_the_chart_grants_the_ingest_reads_by_name_only(kube_ingest: KubeIngest) -> None:
    rbac = kube_ingest.rbac
    allowed = {
        (group, resource, verb): rbac.allows(group, resource, verb)
        for group, resource in (("wafleet.io", "senderpools"), ("", "secrets"))
        for verb in ("get", "list", "watch", "patch")
    }
    assert {key for key, yes in allowed.items() if yes} == {
        ("wafleet.io", "senderpools", "get"),
        ("", "secrets", "get"),
    }
    assert not rbac.allows("", "configmaps", "get")
    assert not rbac.allows("wafleet.io", "whatsappaccounts", "get")


async def until_answered(
    ingest: KubeIngest, url: str, form: dict[str, str], token: str, status: int
) -> None:
    """Post until the answer is `status` (the cache expired and the Secret was read again).
    Polled: nothing signals a cache expiry; the timeout bounds a hang, it asserts no time."""
    async with asyncio.timeout(20):
        while (await ingest.post_twilio(url, form, token))[0] != status:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("cache_seconds", [0.5])
async def test_a_rotated_token_applies_once_the_cache_expires(
    kube_ingest: KubeIngest, kube_api: KubeApi
) -> None:
    url = kube_ingest.url("twilio")
    form = status_form("SM0003")
    assert (await kube_ingest.post_twilio(url, form, AUTH_TOKEN))[0] == 200
    kube_api.known_secrets["rotated away"] = AUTH_TOKEN.encode()  # scanned for at teardown
    kube_ingest.set_token(ROTATED_TOKEN)

    await until_answered(kube_ingest, url, form, ROTATED_TOKEN, 200)
    assert (await kube_ingest.post_twilio(url, form, AUTH_TOKEN))[0] == 403

    kube_api.known_secrets["deleted"] = ROTATED_TOKEN.encode()
    kube_ingest.cluster.core.delete_namespaced_secret(CREDENTIALS, kube_ingest.namespace)
    await until_answered(kube_ingest, url, form, ROTATED_TOKEN, 404)


def test_the_api_server_accepts_every_object_the_chart_renders_for_the_ingest(
    kube_api: KubeApi, cluster: Cluster
) -> None:
    """Real admission and validation (server-side dry run) of the Deployment, Service,
    Ingress, ServiceAccount and RBAC, as `helm install` would send them."""
    if not HELM.exists():
        pytest.skip("helm is not installed: run `make tools`")
    ns = kube_api.namespace
    rendered = subprocess.run(
        [
            str(HELM), "template", "wafleet", str(REPO / "charts" / "wafleet"),
            "--namespace", ns, "--show-only", "templates/ingest.yaml",
            "--set", "ingest.enabled=true",
            "--set", "ingest.publicBaseUrl=https://hooks.example.com/wafleet",
            "--set", "ingest.ingress.enabled=true",
            "--set", "ingest.ingress.tls[0].secretName=hooks-tls",
            "--set", "ingest.ingress.tls[0].hosts[0]=hooks.example.com",
            "--set", f"watchNamespaces[0]={ns}",
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    documents = [doc for doc in yaml.safe_load_all(rendered) if doc]
    kinds = sorted(doc["kind"] for doc in documents)
    assert kinds == sorted(
        ["ServiceAccount", "Deployment", "Service", "Ingress", "Role", "RoleBinding"]
    )
    answers = {}
    with kube_api.http() as http:
        for doc in documents:
            group_version = doc["apiVersion"]
            api = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
            plural = doc["kind"].lower() + ("es" if doc["kind"].endswith("s") else "s")
            path = f"{api}/namespaces/{doc['metadata']['namespace']}/{plural}"
            answer = http.post(
                path, params={"dryRun": "All", "fieldValidation": "Strict"}, json=doc
            )
            answers[doc["kind"]] = (answer.status_code, answer.text[:300])
    assert all(status == 201 for status, _ in answers.values()), answers
