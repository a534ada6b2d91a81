"""All children of an account together: order, ownership, labels, schema validity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest

from wafleet_operator.specs import APPLY_ORDER, build_children
from wafleet_operator.specs.account import AccountRef
from wafleet_operator.specs.labels import labels

from .cases import CASE_IDS, CASES, SETTINGS
from .golden import check_golden_file

#: The oldest Kubernetes wafleet supports, and the newest the validator knows.
KUBERNETES_VERSIONS = ["1.30", kubernetes_validate.latest_version()]


def _children(case: str) -> list[dict[str, Any]]:
    c = CASES[case]
    return build_children(c.account, c.parsed, SETTINGS)


@pytest.mark.parametrize("case", CASE_IDS)
def test_golden(case: str) -> None:
    check_golden_file(case, _children(case))


@pytest.mark.parametrize("case", CASE_IDS)
def test_apply_order_and_names(case: str) -> None:
    children = _children(case)
    assert tuple(child["kind"] for child in children) == APPLY_ORDER
    assert {child["metadata"]["name"] for child in children} == {f"waa-{CASES[case].name}"}


@pytest.mark.parametrize("case", CASE_IDS)
def test_every_child_is_owned_labelled_and_namespaced(case: str) -> None:
    c = CASES[case]
    owner = {
        "apiVersion": "wafleet.io/v1alpha1",
        "kind": "WhatsAppAccount",
        "name": c.name,
        "uid": c.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for child in _children(case):
        meta = child["metadata"]
        assert meta["ownerReferences"] == [owner], child["kind"]
        assert meta["labels"] == labels(c.name), child["kind"]
        assert meta["namespace"] == c.namespace, child["kind"]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "wafleet-operator"


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")
    else:
        yield path, node


@pytest.mark.parametrize("case", CASE_IDS)
def test_secrets_are_only_ever_referenced(case: str) -> None:
    """Secret names appear only where the kubelet resolves them; no object carries secret data."""
    spec = CASES[case].parsed
    secrets = set()
    if spec.snapshot is not None:
        secrets.add(spec.snapshot.encryption_key_secret.name)
        if spec.snapshot.credentials_secret is not None:
            secrets.add(spec.snapshot.credentials_secret.name)
    for child in _children(case):
        assert child["kind"] != "Secret"
        for path, value in _walk(child):
            assert not path.endswith((".data", ".stringData")), path
            if value in secrets:
                assert path.endswith((".secretKeyRef.name", ".secret.secretName")), path


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("case", CASE_IDS)
def test_children_are_valid_kubernetes_objects(case: str, version: str) -> None:
    """Offline against the API's own OpenAPI schemas, strict: no unknown fields."""
    for child in _children(case):
        kubernetes_validate.validate(child, version, strict=True)


def test_account_ref_from_metadata_and_from_account() -> None:
    c = CASES["browser-snapshots"]
    body = c.body()
    assert AccountRef.from_metadata(body["metadata"]) == c.account
    assert c.account == AccountRef(name="demo", namespace="default", uid=c.uid, generation=3)
