"""The kubernetes_asyncio client and paging work against the emulator, from the fixture's kubeconfig."""

from __future__ import annotations

import yaml
from kubernetes_asyncio import client as aclient
from kubernetes_asyncio import watch as awatch

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import CONFIGMAPS, configmap, created


def test_the_kubeconfig_has_an_emulator_context_with_token_auth(kube_emulator: EmulatorApi) -> None:
    config = yaml.safe_load(kube_emulator.kubeconfig.read_text())
    assert config["current-context"] == "emulator"
    [cluster] = config["clusters"]
    assert cluster["cluster"]["server"] == kube_emulator.url
    assert cluster["cluster"]["insecure-skip-tls-verify"] is True
    assert config["users"][0]["user"]["token"]


async def test_the_async_client_creates_reads_patches_and_watches(
    kube_emulator: EmulatorApi,
) -> None:
    async with await kube_emulator.async_client() as api:
        coordination = aclient.CoordinationV1Api(api)
        lease = await coordination.create_namespaced_lease(
            "default",
            {
                "metadata": {"name": "account-1"},
                "spec": {"holderIdentity": "runner-0", "leaseDurationSeconds": 15},
            },
        )
        assert lease.spec.holder_identity == "runner-0"
        lease.spec.holder_identity = "runner-1"
        replaced = await coordination.replace_namespaced_lease("account-1", "default", lease)
        assert int(replaced.metadata.resource_version) > int(lease.metadata.resource_version)
        seen = []
        async with awatch.Watch() as watcher:
            async for event in watcher.stream(coordination.list_namespaced_lease, "default"):
                seen.append((event["type"], event["object"].spec.holder_identity))
                break
        assert seen == [("ADDED", "runner-1")]


def test_lists_page_with_limit_and_continue(kube_emulator: EmulatorApi) -> None:
    with kube_emulator.http() as http:
        for name in "abcde":
            created(http, CONFIGMAPS, configmap(name))
        pages, token = [], ""
        while True:
            page = http.get(
                CONFIGMAPS, params={"limit": "2", **({"continue": token} if token else {})}
            ).json()
            pages.append([o["metadata"]["name"] for o in page["items"]])
            token = page["metadata"].get("continue", "")
            if not token:
                break
    assert pages == [["a", "b"], ["c", "d"], ["e"]]
