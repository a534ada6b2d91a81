"""The API on what the real operator made: a SenderPool's queue and subscription, a session
pool's wiring on its account. A message sent through the API lands on the queue of the
pool that will send it, by target and by account."""

from __future__ import annotations

import asyncio

import pytest

from session_runner.sender.message import OutboundMessage
from tests.harness.kube import KubeApi
from tests.harness.moto_server import AwsEndpoint
from tests.harness.waiting import wait_for
from tests.integration.api.conftest import Api, Outbound
from tests.integration.conftest import Cluster, OperatorProcess, outbound_operator_env, secret
from tests.integration.outbound.test_sender_pool_operator import create_pool, pool

TO = "+14155550123"


@pytest.fixture
def operator_env(aws: AwsEndpoint) -> dict[str, str]:
    return outbound_operator_env(aws)


def drain(outbound: Outbound, url: str) -> list[OutboundMessage]:
    def some() -> list[OutboundMessage]:
        return outbound.received(url)

    return list(wait_for(some, f"a message on {url}"))


async def test_messages_land_on_the_queues_the_operator_made(
    api: Api,
    cluster: Cluster,
    kube_api: KubeApi,
    outbound: Outbound,
    wafleet_operator: OperatorProcess,
) -> None:
    token = b"twilio-auth-token-for-the-api-test-5c1e"
    kube_api.known_secrets["twilio auth token"] = token
    cluster.core.create_namespaced_secret(
        cluster.namespace, secret("twilio", {"accountSid": b"AC0123456789", "authToken": token})
    )
    create_pool(
        cluster,
        "twilio-us",
        {"vendor": "twilio", "target": "us", "credentialsSecret": {"name": "twilio"}},
    )
    cluster.create_account("alice", {"phoneNumber": "+15550100001", "engine": "local"})
    create_pool(
        cluster,
        "alice-session",
        {"vendor": "session", "target": "alice", "accountRef": {"name": "alice"}},
    )

    def queue_of(name: str) -> str | None:
        return (pool(cluster, name).get("status") or {}).get("queueUrl")

    us = await asyncio.to_thread(wait_for, lambda: queue_of("twilio-us"), "the pool's queue", 90)
    alice = await asyncio.to_thread(
        wait_for, lambda: queue_of("alice-session"), "the session pool's queue", 90
    )
    await asyncio.to_thread(
        wait_for,
        lambda: (cluster.account("alice")["metadata"].get("annotations") or {}).get(
            "wafleet.io/outbound"
        ),
        "the account wired to its pool",
        90,
    )

    by_target = await api.client.post(
        "/v1/messages", json={"target": "us", "to": TO, "text": "by target"}, headers=api.admin
    )
    by_account = await api.client.post(
        "/v1/messages", json={"account": "alice", "to": TO, "text": "by account"}, headers=api.admin
    )
    assert (by_target.status_code, by_account.status_code) == (202, 202), by_account.text
    assert by_account.json()["target"] == "alice"
    (on_us,) = await asyncio.to_thread(drain, outbound, us)
    (on_alice,) = await asyncio.to_thread(drain, outbound, alice)
    assert (on_us.id, on_us.text) == (by_target.json()["id"], "by target")
    assert (on_alice.id, on_alice.text) == (by_account.json()["id"], "by account")
