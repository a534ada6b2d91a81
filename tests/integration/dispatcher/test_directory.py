"""Subscriptions and signing secrets as the dispatcher reads them from the real API server."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from session_runner.dispatcher.directory import KubeDirectory
from session_runner.dispatcher.signing import SigningSecretError
from session_runner.kube.client import KubeClient
from session_runner.kube.connection import from_kubeconfig
from tests.harness.kube import KubeApi
from tests.integration.conftest import Cluster, secret

CURRENT = "whsec_" + base64.b64encode(b"current-signing-key-32-bytes-ok!").decode()
PREVIOUS = "whsec_" + base64.b64encode(b"previous-signing-key-32-bytes-ok").decode()
ROTATED = "whsec_" + base64.b64encode(b"rotated-signing-key-32-bytes-ok!").decode()


def subscription(name: str, secret_name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "wafleet.io/v1alpha1",
        "kind": "WebhookSubscription",
        "metadata": {"name": name},
        "spec": {
            "url": f"https://{name}.example.com/hooks",
            "eventTypes": ["message.received"],
            "signingSecret": {"name": secret_name},
            **spec,
        },
    }


def put_secret(
    kube_api: KubeApi, name: str, data: dict[str, bytes], *, replace: bool = False
) -> None:
    for value in data.values():
        kube_api.known_secrets[f"{name}/{len(kube_api.known_secrets)}"] = value
    ns = kube_api.namespace
    with kube_api.http() as http:
        if replace:
            http.put(
                f"/api/v1/namespaces/{ns}/secrets/{name}", json=secret(name, data)
            ).raise_for_status()
        else:
            http.post(
                f"/api/v1/namespaces/{ns}/secrets", json=secret(name, data)
            ).raise_for_status()


@pytest.fixture
async def directory(kube_api: KubeApi, cluster: Cluster) -> AsyncIterator[KubeDirectory]:
    async with KubeClient(from_kubeconfig(kube_api.kubeconfig)) as kube:
        yield KubeDirectory(kube, namespaces=[kube_api.namespace], refresh_s=0.5)


def create(cluster: Cluster, body: dict[str, Any]) -> None:
    cluster.custom.create_namespaced_custom_object(
        "wafleet.io", "v1alpha1", cluster.namespace, "webhooksubscriptions", body
    )


async def test_subscriptions_are_listed_with_the_crds_defaults(
    directory: KubeDirectory, cluster: Cluster
) -> None:
    create(cluster, subscription("crm", "crm-secret", accounts=["sales"]))
    create(cluster, subscription("audit", "audit-secret", timeoutSeconds=2.5, disabled=True))
    await directory.refresh()

    crm = directory.get(f"{cluster.namespace}/crm")
    assert crm is not None
    assert (crm.timeout_s, crm.failures_in_24h, crm.secret_key) == (5.0, 20, "secret")
    assert crm.schedule_s == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert crm.accounts == frozenset({"sales"})
    assert crm.generation == 1
    assert crm.live
    audit = directory.get(f"{cluster.namespace}/audit")
    assert audit is not None
    assert audit.timeout_s == 2.5
    assert not audit.live


async def test_a_deleted_subscription_is_gone_after_the_next_refresh(
    directory: KubeDirectory, cluster: Cluster
) -> None:
    create(cluster, subscription("crm", "crm-secret"))
    await directory.refresh()
    assert [s.name for s in directory.subscribers()] == ["crm"]
    cluster.custom.delete_namespaced_custom_object(
        "wafleet.io", "v1alpha1", cluster.namespace, "webhooksubscriptions", "crm"
    )
    await directory.refresh()
    assert directory.subscribers() == []


async def test_signing_secrets_current_first_then_the_previous_one(
    directory: KubeDirectory, cluster: Cluster, kube_api: KubeApi
) -> None:
    put_secret(
        kube_api, "crm-secret", {"secret": CURRENT.encode(), "secret-previous": PREVIOUS.encode()}
    )
    create(cluster, subscription("crm", "crm-secret"))
    await directory.refresh()
    crm = directory.get(f"{cluster.namespace}/crm")
    assert crm is not None
    assert await directory.secrets(crm) == [CURRENT, PREVIOUS]


async def test_a_rotated_secret_signs_within_the_refresh_period(
    directory: KubeDirectory, cluster: Cluster, kube_api: KubeApi
) -> None:
    put_secret(kube_api, "crm-secret", {"secret": CURRENT.encode()})
    create(cluster, subscription("crm", "crm-secret"))
    await directory.refresh()
    crm = directory.get(f"{cluster.namespace}/crm")
    assert crm is not None
    assert await directory.secrets(crm) == [CURRENT]
    put_secret(
        kube_api,
        "crm-secret",
        {"secret": ROTATED.encode(), "secret-previous": CURRENT.encode()},
        replace=True,
    )
    await asyncio.sleep(directory.refresh_s + 0.1)
    assert await directory.secrets(crm) == [ROTATED, CURRENT]


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (None, "does not exist"),
        ({"other": b"x"}, "no signing secret at key secret"),
        ({"secret": b"not-a-whsec-secret-value"}, "must start with whsec_"),
        ({"secret": CURRENT.encode(), "secret-previous": b"plain"}, "key secret-previous"),
    ],
)
async def test_an_unusable_secret_is_named_never_shown(
    directory: KubeDirectory,
    cluster: Cluster,
    kube_api: KubeApi,
    data: dict[str, bytes] | None,
    complaint: str,
) -> None:
    if data is not None:
        put_secret(kube_api, "crm-secret", data)
    create(cluster, subscription("crm", "crm-secret"))
    await directory.refresh()
    crm = directory.get(f"{cluster.namespace}/crm")
    assert crm is not None
    with pytest.raises(SigningSecretError, match=complaint) as raised:
        await directory.secrets(crm)
    assert f"Secret {cluster.namespace}/crm-secret" in str(raised.value)
    for value in (data or {}).values():
        assert value.decode() not in str(raised.value)
