"""Which child events are drift (reconcile the account) and which are a controller's noise."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from wafleet_operator.drift import fingerprint, is_drift

STATEFULSET: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "StatefulSet",
    "metadata": {
        "name": "waa-a",
        "namespace": "ns",
        "generation": 1,
        "resourceVersion": "100",
        "labels": {"wafleet.io/account": "a"},
        "managedFields": [{"manager": "wafleet-operator"}],
    },
    "spec": {"replicas": 1},
    "status": {"replicas": 0},
}
ROLE: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "waa-a", "namespace": "ns", "resourceVersion": "7"},
    "rules": [{"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}],
}


def changed(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


ROWS = [
    (
        "the pod became ready (the account's Ready uses it)",
        STATEFULSET,
        changed(STATEFULSET, ("status", "readyReplicas"), 1),
        True,
    ),
    (
        "controller writes status",
        STATEFULSET,
        changed(STATEFULSET, ("status", "replicas"), 1),
        False,
    ),
    (
        "resourceVersion and managedFields only",
        STATEFULSET,
        changed(
            changed(STATEFULSET, ("metadata", "resourceVersion"), "101"),
            ("metadata", "managedFields"),
            [],
        ),
        False,
    ),
    (
        "spec edited (generation bumped)",
        STATEFULSET,
        changed(STATEFULSET, ("metadata", "generation"), 2),
        True,
    ),
    (
        "a label edited by hand",
        STATEFULSET,
        changed(STATEFULSET, ("metadata", "labels"), {"wafleet.io/account": "b"}),
        True,
    ),
    (
        "an annotation added by hand",
        STATEFULSET,
        changed(STATEFULSET, ("metadata", "annotations"), {"x": "y"}),
        True,
    ),
    ("a role's rules edited (no generation)", ROLE, changed(ROLE, ("rules",), []), True),
    (
        "a role rewritten unchanged",
        ROLE,
        changed(ROLE, ("metadata", "resourceVersion"), "8"),
        False,
    ),
]


@pytest.mark.parametrize(("why", "before", "after", "drift"), ROWS, ids=[r[0] for r in ROWS])
def test_modified(why: str, before: dict[str, Any], after: dict[str, Any], drift: bool) -> None:
    assert is_drift("MODIFIED", fingerprint(before), fingerprint(after)) is drift


def test_deletion_is_always_drift_and_an_unknown_object_is_drift() -> None:
    print_ = fingerprint(STATEFULSET)
    assert is_drift("DELETED", print_, print_)
    assert is_drift("MODIFIED", None, print_)  # after a restart nothing is known


def test_creation_and_the_initial_listing_are_not_drift() -> None:
    print_ = fingerprint(STATEFULSET)
    assert not is_drift("ADDED", None, print_)
    assert not is_drift("", None, print_)
