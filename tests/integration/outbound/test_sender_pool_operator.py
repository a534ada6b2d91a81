"""The operator turns a SenderPool into its queues, senders and status, on the real API server.

The real operator runs against the real kube-apiserver and the moto server
(SQS, SNS over HTTP). There is no kubelet, so sender pods stay Pending: these
tests read what the operator creates and decides, not what senders do.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from session_runner.contract.outbound import limiter_key
from session_runner.sender.ratelimit import PoolRateLimiter
from tests.harness.kube import KubeApi
from tests.harness.moto_server import AwsEndpoint
from tests.harness.waiting import wait_for
from tests.integration.conftest import Cluster, OperatorProcess, outbound_operator_env, secret

GROUP, VERSION, PLURAL = "wafleet.io", "v1alpha1", "senderpools"
TWILIO_TOKEN = b"twilio-auth-token-9f2c41d7e0"


@pytest.fixture
def operator_env(aws: AwsEndpoint) -> dict[str, str]:
    return outbound_operator_env(aws)


@pytest.fixture
def twilio_secret(cluster: Cluster, kube_api: KubeApi) -> str:
    kube_api.known_secrets["twilio auth token"] = TWILIO_TOKEN
    cluster.core.create_namespaced_secret(
        cluster.namespace,
        secret("twilio-creds", {"accountSid": b"AC0123456789", "authToken": TWILIO_TOKEN}),
    )
    return "twilio-creds"


def create_pool(cluster: Cluster, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SenderPool",
        "metadata": {"name": name},
        "spec": spec,
    }
    return cluster.custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
        GROUP, VERSION, cluster.namespace, PLURAL, body
    )


def pool(cluster: Cluster, name: str) -> dict[str, Any]:
    return cluster.custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
        GROUP, VERSION, cluster.namespace, PLURAL, name
    )


def ready(cluster: Cluster, name: str) -> dict[str, Any]:
    conditions = (pool(cluster, name).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), {})


def twilio_spec(target: str, **extra: Any) -> dict[str, Any]:
    return {
        "vendor": "twilio",
        "target": target,
        "credentialsSecret": {"name": "twilio-creds"},
        "phoneNumbers": ["+14155550100"],
        "rateLimitPerSecond": 5,
        "backlogPerReplica": 2,
        "replicas": {"min": 0, "max": 3},
        **extra,
    }


def queue_urls(aws: AwsEndpoint) -> list[str]:
    """The pools' queues: all but the events pipeline's, which the operator shares."""
    urls = aws.client("sqs").list_queues().get("QueueUrls", [])
    return [url for url in urls if not url.endswith(("-events-dispatcher", "-events-retries"))]


def publish(aws: AwsEndpoint, target: str, n: int) -> None:
    sns = aws.client("sns")
    topic = sns.create_topic(Name="wafleet-outbound")["TopicArn"]
    for i in range(n):
        sns.publish(
            TopicArn=topic,
            Message=json.dumps({"id": f"m-{i}"}),
            MessageAttributes={"target": {"DataType": "String", "StringValue": target}},
        )


def test_a_pool_gets_its_queues_and_senders_scaled_from_its_queue(
    cluster: Cluster,
    aws: AwsEndpoint,
    twilio_secret: str,
    wafleet_operator: OperatorProcess,
) -> None:
    create_pool(cluster, "twilio-us", twilio_spec("twilio-us"))
    wait_for(lambda: ready(cluster, "twilio-us").get("reason") == "Idle", "the pool ready and idle")
    status = pool(cluster, "twilio-us")["status"]
    assert status["queueUrl"] in queue_urls(aws)
    assert status["deadLetterQueueUrl"] in queue_urls(aws)
    deployment = cluster.apps.read_namespaced_deployment("sp-twilio-us", cluster.namespace)
    assert deployment.spec.replicas == 0  # nothing to send: an idle pool costs nothing
    volumes = {v.name: v for v in deployment.spec.template.spec.volumes}
    assert any(v.secret and v.secret.secret_name == twilio_secret for v in volumes.values())
    env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
    assert env["WAFLEET_SENDER_QUEUE_URL"] == status["queueUrl"]
    # An identity for the pool's AWS role, and no Kubernetes permissions: no token, no Role.
    account = cluster.core.read_namespaced_service_account("sp-twilio-us", cluster.namespace)
    assert account.automount_service_account_token is False
    assert deployment.spec.template.spec.automount_service_account_token is False
    for read in (cluster.rbac.read_namespaced_role, cluster.rbac.read_namespaced_role_binding):
        with pytest.raises(ApiException) as missing:
            read("sp-twilio-us", cluster.namespace)
        assert missing.value.status == 404

    publish(aws, "twilio-us", 5)  # 5 waiting / 2 per replica -> 3 replicas
    wait_for(
        lambda: (
            cluster.apps.read_namespaced_deployment("sp-twilio-us", cluster.namespace).spec.replicas
            == 3
        ),
        "the senders scaled up from the queue",
    )
    # the operator scales, then writes the status: wait for the write, not just the scale
    wait_for(
        lambda: pool(cluster, "twilio-us")["status"].get("desiredReplicas") == 3,
        "the pool's status showing the scale",
    )
    status = pool(cluster, "twilio-us")["status"]
    assert status["queueDepth"]["visible"] == 5
    assert status["desiredReplicas"] == 3
    assert status["lastScaleTime"]
    reasons = [e.reason for e in cluster.events_for("twilio-us")]
    assert "ScaleUp" in reasons

    cluster.custom.delete_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, PLURAL, "twilio-us"
    )
    wait_for(
        lambda: not {status["queueUrl"], status["deadLetterQueueUrl"]} & set(queue_urls(aws)),
        "the pool's queue and dead-letter queue deleted",
    )
    sns = aws.client("sns")
    topic = sns.create_topic(Name="wafleet-outbound")["TopicArn"]
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


@pytest.mark.parametrize(
    ("case", "spec", "field"),
    [
        (
            "credentials Secret missing",
            twilio_spec("nosecret", credentialsSecret={"name": "absent"}),
            "spec.credentialsSecret.name",
        ),
        (
            "session pool naming an account that does not exist",
            {"vendor": "session", "target": "own", "accountRef": {"name": "nobody"}},
            "spec.accountRef.name",
        ),
    ],
)
def test_bad_input_gets_a_condition_and_an_event_and_nothing_is_created(
    cluster: Cluster,
    aws: AwsEndpoint,
    wafleet_operator: OperatorProcess,
    case: str,
    spec: dict[str, Any],
    field: str,
) -> None:
    create_pool(cluster, "bad", spec)
    condition = wait_for(
        lambda: ready(cluster, "bad") if ready(cluster, "bad").get("reason") else None,
        "the pool's verdict",
    )
    assert (condition["status"], condition["reason"]) == ("False", "InvalidSpec"), case
    assert field in condition["message"], case
    warnings = wait_for(
        lambda: [e for e in cluster.events_for("bad") if e.type == "Warning"], "a Warning"
    )
    assert field in warnings[0].message
    assert queue_urls(aws) == []
    deployments = cluster.apps.list_namespaced_deployment(cluster.namespace).items
    assert deployments == []


def test_one_target_one_pool_the_first_keeps_it(
    cluster: Cluster,
    aws: AwsEndpoint,
    twilio_secret: str,
    wafleet_operator: OperatorProcess,
) -> None:
    create_pool(cluster, "first", twilio_spec("shared"))
    wait_for(lambda: ready(cluster, "first").get("status") == "True", "the first pool ready")
    create_pool(cluster, "second", twilio_spec("shared"))
    condition = wait_for(
        lambda: ready(cluster, "second") if ready(cluster, "second").get("reason") else None,
        "the second pool's verdict",
    )
    assert condition["reason"] == "InvalidSpec"
    assert "spec.target" in condition["message"]
    assert "first" in condition["message"]
    assert len(queue_urls(aws)) == 2  # the first pool's queue and DLQ only
    assert ready(cluster, "first")["status"] == "True"


def test_the_operator_never_logs_the_vendor_credentials(
    cluster: Cluster,
    aws: AwsEndpoint,
    twilio_secret: str,
    wafleet_operator: OperatorProcess,
) -> None:
    create_pool(cluster, "quiet", twilio_spec("quiet"))
    wait_for(lambda: ready(cluster, "quiet").get("status") == "True", "the pool ready")
    assert TWILIO_TOKEN.decode() not in wafleet_operator.logs()
    # the teardown's secret scan also searches Events, the objects and the operator log


async def test_a_vendor_throttle_recorded_by_a_sender_shows_as_the_pools_throttled_condition(
    cluster: Cluster,
    aws: AwsEndpoint,
    twilio_secret: str,
    wafleet_operator: OperatorProcess,
) -> None:
    create_pool(cluster, "busy", twilio_spec("busy"))
    await asyncio.to_thread(
        wait_for, lambda: ready(cluster, "busy").get("status") == "True", "the pool ready"
    )
    # what a sender does when the vendor answers 429: the pool's shared limiter pauses
    limiter = PoolRateLimiter(
        aws.client("dynamodb"), "wafleet-outbound-ledger", limiter_key(cluster.namespace, "busy"), 5
    )
    await limiter.throttle(120, "throttle: 20429: Too Many Requests")

    def throttled() -> dict[str, Any] | None:
        conditions = (pool(cluster, "busy").get("status") or {}).get("conditions") or []
        found = next((c for c in conditions if c["type"] == "Throttled"), {})
        return found if found.get("status") == "True" else None

    condition = await asyncio.to_thread(wait_for, throttled, "the Throttled condition")
    assert "20429" in condition["message"]
    assert pool(cluster, "busy")["status"]["throttleReason"] == "throttle: 20429: Too Many Requests"
    warnings = await asyncio.to_thread(
        wait_for,
        lambda: [e for e in cluster.events_for("busy") if e.reason == "Throttled"],
        "a Throttled warning",
    )
    assert warnings[0].type == "Warning"
