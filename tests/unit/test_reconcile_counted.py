"""`reconcile.counted`: the one place reconciliations are counted, by result."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from prometheus_client import REGISTRY

from session_runner.kube.errors import error_for
from wafleet_operator.kube import KubeError
from wafleet_operator.reconcile import counted, must_recreate

_TRIGGERS = (f"table-{n}" for n in itertools.count())


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("raised", "ok", "error"),
    [
        (None, 1, 0),
        (KubeError(500, "InternalError", "etcd is sad"), 0, 1),
        (KubeError(409, "Conflict", "stale resourceVersion"), 0, 1),
        (ValueError("a bug is an error too"), 0, 1),
        (asyncio.CancelledError(), 0, 0),  # shutdown: neither result
    ],
    ids=["ok", "server-error", "conflict", "bug", "cancelled"],
)
def test_counted(raised: BaseException | None, ok: int, error: int) -> None:
    trigger = next(_TRIGGERS)

    async def one_reconcile() -> None:
        async with counted(trigger):
            if raised is not None:
                raise raised

    if raised is None:
        asyncio.run(one_reconcile())
    else:
        with pytest.raises(type(raised)):
            asyncio.run(one_reconcile())
    total = "wafleet_reconciles_total"
    assert _sample(total, {"trigger": trigger, "result": "ok"}) == ok
    assert _sample(total, {"trigger": trigger, "result": "error"}) == error
    assert _sample("wafleet_reconcile_seconds_count", {"trigger": trigger}) == 1


@pytest.mark.parametrize(
    ("case", "kind", "status", "message", "recreate"),
    [
        (
            "a fixed StatefulSet field changed",
            "StatefulSet",
            422,
            'StatefulSet.apps "waa-a" is invalid: spec: Forbidden: updates to statefulset spec '
            "for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
            "'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
            "'minReadySeconds' are forbidden",
            True,
        ),
        ("another invalid StatefulSet", "StatefulSet", 422, "spec.replicas: Invalid", False),
        (
            "the same words for a Service",
            "Service",
            422,
            "updates to statefulset spec for fields other than",
            False,
        ),
        ("a conflict", "StatefulSet", 409, "the object has been modified", False),
    ],
)
def test_must_recreate(case: str, kind: str, status: int, message: str, recreate: bool) -> None:
    assert must_recreate(kind, error_for(status, "Invalid", message)) is recreate, case
