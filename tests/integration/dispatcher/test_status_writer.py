"""The dispatcher's status reports on the real API server: readable with kubectl, and a
tombstone that a spec change lifts."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from session_runner.dispatcher.directory import KubeDirectory
from session_runner.dispatcher.jobs import DeliveryJob
from session_runner.dispatcher.retry_decision import Decision, Verdict
from session_runner.dispatcher.status import KubeStatusWriter
from session_runner.kube.client import KubeClient
from session_runner.kube.connection import from_kubeconfig
from tests.harness.kube import KubeApi
from tests.integration.conftest import Cluster

SECRET = "whsec_" + base64.b64encode(b"status-writer-signing-key-32b!!!").decode()
EVENT_ID = "evt_0123456789abcdef0123456789abcdef"


def job(name: str, namespace: str) -> DeliveryJob:
    return DeliveryJob(
        webhook_id=EVENT_ID,
        namespace=namespace,
        subscription=name,
        generation=1,
        attempt=1,
        due_at=0.0,
        body="{}",
    )


@pytest.fixture
async def kube(kube_api: KubeApi, cluster: Cluster) -> AsyncIterator[KubeClient]:
    async with KubeClient(from_kubeconfig(kube_api.kubeconfig)) as client:
        yield client


def create(cluster: Cluster, name: str) -> None:
    cluster.custom.create_namespaced_custom_object(
        "wafleet.io",
        "v1alpha1",
        cluster.namespace,
        "webhooksubscriptions",
        {
            "apiVersion": "wafleet.io/v1alpha1",
            "kind": "WebhookSubscription",
            "metadata": {"name": name},
            "spec": {
                "url": f"https://{name}.example.com/hooks",
                "eventTypes": ["message.received"],
                "signingSecret": {"name": "hooks-secret"},
            },
        },
    )


def read(cluster: Cluster, name: str) -> dict[str, Any]:
    obj = cluster.custom.get_namespaced_custom_object(
        "wafleet.io", "v1alpha1", cluster.namespace, "webhooksubscriptions", name
    )
    return dict(obj)


async def test_deliveries_and_failures_are_flushed_into_the_status(
    kube: KubeClient, cluster: Cluster
) -> None:
    create(cluster, "crm")
    directory = KubeDirectory(kube, namespaces=[cluster.namespace])
    await directory.refresh()
    crm = directory.get(f"{cluster.namespace}/crm")
    assert crm is not None
    writer = KubeStatusWriter(kube)
    await writer.failed(
        crm, job("crm", cluster.namespace), Decision(Verdict.RETRY, 5.0, "HTTP 503"), 1, 503
    )
    await writer.delivered(crm, job("crm", cluster.namespace), 204)
    await writer.flush()

    status = read(cluster, "crm")["status"]
    assert status["state"] == "Active"
    assert status["failuresLast24h"] == 1
    assert status["lastError"] == "HTTP 503"
    assert status["lastDelivery"]["statusCode"] == 204
    assert status["lastDelivery"]["eventId"] == EVENT_ID
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"


async def test_a_tombstone_is_written_at_once_with_a_warning_and_a_spec_change_lifts_it(
    kube: KubeClient, cluster: Cluster, kube_api: KubeApi
) -> None:
    create(cluster, "dead")
    directory = KubeDirectory(kube, namespaces=[cluster.namespace])
    await directory.refresh()
    dead = directory.get(f"{cluster.namespace}/dead")
    assert dead is not None
    writer = KubeStatusWriter(kube)
    reason = "21 failed attempts in 24 hours, the last: timeout"
    await writer.tombstoned(dead, reason, 21)

    status = read(cluster, "dead")["status"]
    assert status["state"] == "Tombstoned"
    assert status["failuresLast24h"] == 21
    tombstoned = next(c for c in status["conditions"] if c["type"] == "Tombstoned")
    assert (tombstoned["status"], tombstoned["reason"]) == ("True", "TooManyFailures")
    assert tombstoned["observedGeneration"] == 1
    events = cluster.core.list_namespaced_event(cluster.namespace).items
    [warning] = [e for e in events if e.involved_object.name == "dead"]
    assert (warning.type, warning.reason) == ("Warning", "Tombstoned")
    assert reason in warning.message

    await directory.refresh()
    again = directory.get(f"{cluster.namespace}/dead")
    assert again is not None
    assert not again.live  # what the dispatcher reads back: switched off

    cluster.custom.patch_namespaced_custom_object(
        "wafleet.io",
        "v1alpha1",
        cluster.namespace,
        "webhooksubscriptions",
        "dead",
        {"spec": {"url": "https://dead.example.com/new-hooks"}},
    )
    await directory.refresh()
    resurrected = directory.get(f"{cluster.namespace}/dead")
    assert resurrected is not None
    assert resurrected.generation == 2
    assert resurrected.live  # a new generation: live again


async def test_a_deleted_subscription_is_forgotten_quietly(
    kube: KubeClient, cluster: Cluster
) -> None:
    create(cluster, "gone")
    directory = KubeDirectory(kube, namespaces=[cluster.namespace])
    await directory.refresh()
    gone = directory.get(f"{cluster.namespace}/gone")
    assert gone is not None
    cluster.custom.delete_namespaced_custom_object(
        "wafleet.io", "v1alpha1", cluster.namespace, "webhooksubscriptions", "gone"
    )
    writer = KubeStatusWriter(kube)
    await writer.delivered(gone, job("gone", cluster.namespace), 200)
    await writer.flush()  # no error: nothing to report on
    await asyncio.sleep(0)
