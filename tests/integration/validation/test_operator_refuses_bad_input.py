"""The real operator refuses what the schema cannot see, before applying anything (issue 13, 7-8).

The API server cannot read a Secret's contents or the operator's settings, so
the operator checks those itself: a key-encryption key that is not 32 bytes (the
runner would exit before its first report), an image outside the allow-list. It
also repeats every schema rule (its second line), which these tests exercise
with the CRD as an API server that enforces none of its patterns, ranges or CEL
rules would hold it: the operator must then catch each bad input on its own.

Every refusal is the same: phase Failed, Ready False with reason InvalidSpec
naming the field, a Warning event, and no child of the account at all.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.harness.kube import KubeApi
from tests.integration.conftest import Cluster, OperatorProcess, wait_for

LOCAL: dict[str, Any] = {"phoneNumber": "+14155550100", "engine": "local"}
SNAP = {"bucket": "snaps", "encryptionKeySecret": {"name": "kek"}}
#: A key of the wrong length, distinctive enough that any copy of it is found.
SHORT_KEY = b"kek-ShortAndMustNeverBeShown-21"
GOOD_KEY = os.urandom(32)
CHILD_KINDS = ("ServiceAccount", "Role", "RoleBinding", "Lease", "Service", "StatefulSet")


def put_secret(cluster: Cluster, name: str, data: dict[str, bytes]) -> None:
    """Create or replace the Secret (values as the API server stores them: base64)."""
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    try:
        cluster.core.create_namespaced_secret(cluster.namespace, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        cluster.core.replace_namespaced_secret(name, cluster.namespace, body)


def children(cluster: Cluster, name: str) -> list[str]:
    """The kinds of the account's children that exist (any of them: nothing half applied)."""
    child, ns = f"waa-{name}", cluster.namespace
    readers = {
        "ServiceAccount": lambda: cluster.core.read_namespaced_service_account(child, ns),
        "Role": lambda: cluster.rbac.read_namespaced_role(child, ns),
        "RoleBinding": lambda: cluster.rbac.read_namespaced_role_binding(child, ns),
        "Lease": lambda: cluster.coordination.read_namespaced_lease(child, ns),
        "Service": lambda: cluster.core.read_namespaced_service(child, ns),
        "StatefulSet": lambda: cluster.apps.read_namespaced_stateful_set(child, ns),
    }
    found = []
    for kind, read in readers.items():
        try:
            read()
        except ApiException as exc:
            if exc.status != 404:
                raise
        else:
            found.append(kind)
    return found


def phase(cluster: Cluster, name: str) -> str | None:
    return (cluster.account(name).get("status") or {}).get("phase")


def assert_refused(cluster: Cluster, name: str, field: str) -> dict[str, Any]:
    """Failed with InvalidSpec naming `field`, a Warning saying so, and no child at all."""
    wait_for(lambda: phase(cluster, name) == "Failed", f"{name} phase Failed")
    ready = cluster.condition(name, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert f"{field}: " in ready["message"], ready["message"]
    warnings = wait_for(
        lambda: [
            e for e in cluster.events_for(name) if e.type == "Warning" and e.reason == "InvalidSpec"
        ],
        "an InvalidSpec Warning event",
    )
    assert field in warnings[0].message
    assert children(cluster, name) == []
    return ready


def assert_applied(cluster: Cluster, name: str) -> None:
    wait_for(
        lambda: phase(cluster, name) == "Pending" and children(cluster, name) == list(CHILD_KINDS),
        f"{name} reconciled: every child applied",
    )


# ---------------------------------------------------------------- the key-encryption key


def test_a_key_that_is_not_32_bytes_is_refused_and_never_shown(
    cluster: Cluster, kube_api: KubeApi, wafleet_operator: OperatorProcess
) -> None:
    """Today the runner exits before its first report and status says only "waiting"."""
    kube_api.log_files["operator log"] = wafleet_operator.log_path
    put_secret(cluster, "kek", {"key": SHORT_KEY})
    cluster.create_account("kate", {**LOCAL, "snapshot": SNAP})
    ready = assert_refused(cluster, "kate", "spec.snapshot.encryptionKeySecret.key")
    assert "32 bytes" in ready["message"]
    account = str(cluster.account("kate"))
    events = str([e.message for e in cluster.events_for("kate")])
    for text in (account, events, wafleet_operator.logs()):
        assert SHORT_KEY.decode() not in text
        assert base64.b64encode(SHORT_KEY).decode() not in text

    put_secret(cluster, "kek", {"key": GOOD_KEY})  # the Secret's event reconciles the account
    assert_applied(cluster, "kate")
    assert any(e.reason == "SpecValid" for e in cluster.events_for("kate"))


@pytest.mark.parametrize(
    ("data", "bad_key"),
    [
        ({"key": GOOD_KEY, "key.1": SHORT_KEY}, "key.1"),
        ({"key": base64.b64encode(GOOD_KEY), "key.1": GOOD_KEY, "key.2": b"x" * 33}, "key.2"),
        ({"key": base64.b64encode(GOOD_KEY), "key.1": base64.urlsafe_b64encode(GOOD_KEY)}, None),
    ],
    ids=["retired-key-short", "second-retired-key-long", "base64-current-and-retired"],
)
def test_retired_keys_pass_the_same_check(
    cluster: Cluster, wafleet_operator: OperatorProcess, data: dict[str, bytes], bad_key: str | None
) -> None:
    """The runner loads `<key>.1`, `<key>.2` … beside the key: each must be a key too."""
    put_secret(cluster, "kek", data)
    cluster.create_account("rita", {**LOCAL, "snapshot": SNAP})
    if bad_key is None:
        assert_applied(cluster, "rita")
        return
    ready = assert_refused(cluster, "rita", "spec.snapshot.encryptionKeySecret.key")
    assert repr(bad_key) in ready["message"]


# ---------------------------------------------------------------- the image allow-list


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("registry.example/evil/runner:1", False),
        ("wafleet/runner:other", False),
        ("wafleet/runner:test", True),  # the operator's runner image (WAFLEET_RUNNER_IMAGE)
    ],
)
def test_spec_image_must_be_on_the_default_allow_list(
    cluster: Cluster, wafleet_operator: OperatorProcess, image: str, allowed: bool
) -> None:
    cluster.create_account("ivy", {**LOCAL, "image": image})
    if not allowed:
        ready = assert_refused(cluster, "ivy", "spec.image")
        assert image in ready["message"]
        return
    assert_applied(cluster, "ivy")
    assert cluster.statefulset("ivy").spec.template.spec.containers[0].image == image


@pytest.mark.parametrize(
    "operator_env",
    [{"WAFLEET_RUNNER_IMAGE_ALLOW_LIST": "registry.example/wafleet/runner:9.9, mirror.example/*"}],
)
def test_images_on_the_configured_allow_list_are_used(
    cluster: Cluster, wafleet_operator: OperatorProcess
) -> None:
    for name, image in (
        ("ida", "registry.example/wafleet/runner:9.9"),
        ("iris", "mirror.example/wafleet/runner:1.0"),
        ("inez", "wafleet/runner:test"),
    ):
        cluster.create_account(name, {**LOCAL, "image": image})
        assert_applied(cluster, name)
        assert cluster.statefulset(name).spec.template.spec.containers[0].image == image
    cluster.create_account("ines", {**LOCAL, "image": "registry.example/wafleet/runner:9.8"})
    assert_refused(cluster, "ines", "spec.image")


# ---------------------------------------------------------------- the second line


SECOND_LINE = [
    ("sales.eu", LOCAL, "metadata.name"),
    ("n" * 49, LOCAL, "metadata.name"),
    ("ron", {**LOCAL, "snapshot": {**SNAP, "region": "eu west 1"}}, "spec.snapshot.region"),
    (
        "kay",
        {**LOCAL, "snapshot": {**SNAP, "retention": {"keepWithinHours": 20_000_000}}},
        "spec.snapshot.retention.keepWithinHours",
    ),
    (
        "rex",
        {**LOCAL, "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}},
        "spec.resources.requests.cpu",
    ),
    (
        "meg",
        {**LOCAL, "resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}}},
        "spec.resources.requests.memory",
    ),
]


@pytest.mark.usefixtures("lax_crd")
@pytest.mark.parametrize(
    ("name", "spec", "field"),
    SECOND_LINE,
    ids=["dot-in-name", "name-too-long", "region", "keep-within-hours", "cpu", "memory"],
)
def test_what_the_schema_would_refuse_the_operator_refuses_too(
    cluster: Cluster, wafleet_operator: OperatorProcess, name: str, spec: dict[str, Any], field: str
) -> None:
    """With no rule enforced by the server, nothing of the account is applied either."""
    put_secret(cluster, "kek", {"key": GOOD_KEY})
    cluster.create_account(name, spec)
    assert_refused(cluster, name, field)
