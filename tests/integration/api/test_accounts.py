"""`/v1/accounts` on the real API server: accounts and their Leases as the operator and the
runner leave them, the login QR as PNG and text, the snapshot request annotation."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from session_runner.api.qr import qr_matrix
from session_runner.contract.annotations import SNAPSHOT_REQUEST_ANNOTATION
from tests.harness.kube import KubeApi
from tests.integration.api.conftest import Api, Objects
from tests.integration.conftest import Cluster

QR = "2@AbCdEf0123456789,ghIJkl+mnOP/qrs=,tuvWXyz0123=,ABCdef456="
NOW = "2026-12-06T10:00:00Z"


def connected(holder: str = "waa-alice-0", token: int = 3) -> dict[str, Any]:
    return {
        "phase": "Connected",
        "leaseHolder": holder,
        "fencingToken": token,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Connected",
                "message": "the session is connected",
                "lastTransitionTime": NOW,
            },
            {"type": "LeaseHeld", "status": "True", "reason": "Held", "lastTransitionTime": NOW},
        ],
        "lastSnapshot": {"id": "snap-1", "time": NOW, "bytes": 2048, "seconds": 1.5},
    }


def awaiting_login() -> dict[str, Any]:
    return {
        "phase": "AwaitingLogin",
        "loginQr": QR,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "AwaitingLogin",
                "lastTransitionTime": NOW,
            }
        ],
    }


def lease(kube_api: KubeApi, name: str, holder: str) -> None:
    """The account's Lease as a runner renews it (raw: the typed client rewrites MicroTime)."""
    with kube_api.http() as http:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{kube_api.namespace}/leases"
        http.post(
            path,
            json={
                "metadata": {"name": name},
                "spec": {
                    "holderIdentity": holder,
                    "leaseDurationSeconds": 15,
                    "renewTime": "2026-12-06T10:00:01.000000Z",
                    "leaseTransitions": 3,
                },
            },
        ).raise_for_status()


async def test_accounts_show_phase_conditions_lease_holder_and_last_snapshot(
    api: Api, objects: Objects, cluster: Cluster, kube_api: KubeApi
) -> None:
    objects.account("alice", status=connected())
    objects.account("bob", status=awaiting_login())
    lease(kube_api, "waa-alice", "waa-alice-0")

    listing = await api.client.get("/v1/accounts", headers=api.admin)
    assert listing.status_code == 200
    items = listing.json()["items"]
    assert [i["name"] for i in items] == ["alice", "bob"]
    alice = await api.client.get("/v1/accounts/alice", headers=api.admin)
    assert alice.json() == items[0]
    view = alice.json()
    assert view["namespace"] == cluster.namespace
    assert (view["phase"], view["ready"], view["awaiting_login"]) == ("Connected", True, False)
    assert view["lease"] == {
        "holder": "waa-alice-0",
        "fencing_token": 3,
        "renewed_at": "2026-12-06T10:00:01.000000Z",
    }
    assert view["last_snapshot"] == {"id": "snap-1", "time": NOW, "bytes": 2048, "seconds": 1.5}
    assert [c["type"] for c in view["conditions"]] == ["Ready", "LeaseHeld"]
    assert view["phone_number"] == "+15550100001"
    assert view["engine"] == "local"
    bob = items[1]
    assert (bob["phase"], bob["ready"], bob["awaiting_login"]) == ("AwaitingLogin", False, True)
    assert bob["lease"]["holder"] is None  # no Lease, no holder in the status


async def test_a_scoped_key_sees_only_its_accounts(api: Api, objects: Objects) -> None:
    objects.account("alice")
    objects.account("bob")
    scoped = api.as_(api.keys.scoped)
    listing = await api.client.get("/v1/accounts", headers=scoped)
    assert [i["name"] for i in listing.json()["items"]] == ["alice"]
    assert (await api.client.get("/v1/accounts/bob", headers=scoped)).status_code == 403
    assert (await api.client.get("/v1/accounts/bob/qr", headers=scoped)).status_code == 403
    assert (await api.client.post("/v1/accounts/bob/snapshot", headers=scoped)).status_code == 403
    nobody = await api.client.get("/v1/accounts", headers=api.as_(api.keys.nobody))
    assert nobody.json() == {"items": []}


async def test_an_unknown_account_is_404(api: Api, objects: Objects) -> None:
    for method, path in (
        ("GET", "/v1/accounts/ghost"),
        ("GET", "/v1/accounts/ghost/qr"),
        ("POST", "/v1/accounts/ghost/snapshot"),
    ):
        answer = await api.client.request(method, path, headers=api.admin)
        assert answer.status_code == 404, path
        assert (
            answer.json()["detail"]
            == f"no WhatsAppAccount ghost in namespace {api.context.namespace}"
        )


def png_modules(png: bytes, box: int = 8) -> list[list[bool]]:
    """The modules of a QR PNG, decoded by Pillow (not by our own writer)."""
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    width, height = image.size
    gray = image.convert("L")
    return [
        [gray.getpixel((x * box + box // 2, y * box + box // 2)) == 0 for x in range(width // box)]
        for y in range(height // box)
    ]


async def test_the_qr_is_a_png_by_default_and_text_for_terminals(
    api: Api, objects: Objects
) -> None:
    objects.account("bob", status=awaiting_login())
    png = await api.client.get("/v1/accounts/bob/qr", headers=api.admin)
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.headers["cache-control"] == "no-store"
    assert png_modules(png.content) == qr_matrix(QR)

    for query, accept in (
        ("?format=text", None),
        ("", "text/plain"),
        ("", "text/*;q=1, */*;q=0.5"),
    ):
        headers = {**api.admin, **({"Accept": accept} if accept else {})}
        text = await api.client.get(f"/v1/accounts/bob/qr{query}", headers=headers)
        assert text.status_code == 200, (query, accept)
        assert text.headers["content-type"].startswith("text/plain")
        assert "▀" in text.text or "▄" in text.text
    refused = await api.client.get(
        "/v1/accounts/bob/qr", headers={**api.admin, "Accept": "application/json"}
    )
    assert refused.status_code == 406


async def test_an_account_not_awaiting_login_has_no_qr(api: Api, objects: Objects) -> None:
    objects.account("alice", status=connected())
    answer = await api.client.get("/v1/accounts/alice/qr", headers=api.admin)
    assert answer.status_code == 409
    assert answer.json()["type"] == "urn:wafleet:problem:not-awaiting-login"
    assert "phase Connected" in answer.json()["detail"]


async def test_a_snapshot_request_sets_the_annotation_the_runner_watches(
    api: Api, objects: Objects, cluster: Cluster
) -> None:
    objects.account("alice", status=connected())
    before = cluster.account("alice")
    answer = await api.client.post("/v1/accounts/alice/snapshot", headers=api.admin)
    assert answer.status_code == 202
    stamp = answer.json()["requested_at"]
    after = cluster.account("alice")
    assert after["metadata"]["annotations"][SNAPSHOT_REQUEST_ANNOTATION] == stamp
    assert after["spec"] == before["spec"]
    assert after["status"] == before["status"]
    again = await api.client.post("/v1/accounts/alice/snapshot", headers=api.admin)
    assert again.json()["requested_at"] != stamp  # each request a new value: a new snapshot
