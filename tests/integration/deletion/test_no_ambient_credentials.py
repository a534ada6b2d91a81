"""The operator never deletes with its own AWS identity, whatever bucket or endpoint a user names.

The operator runs here with AWS keys of its own in its environment (as IRSA or
an instance profile would give it), and moto accepts any keys: had the
operator used them, the objects would be gone.
"""

from __future__ import annotations

import pytest

from tests.harness.moto_server import AwsEndpoint
from tests.integration.conftest import Cluster, OperatorProcess, wait_for
from tests.integration.deletion.test_deletion import (
    blocked,
    delete_account,
    gone,
    let_go,
    own_keys,
    warnings,
)
from tests.integration.test_operator_account import (
    SECRET_KEY_VALUE,
    children_exist,
    confirm_pod_gone,
    make_secret,
    seed_snapshots,
    snapshot_spec,
)


@pytest.fixture
def operator_env() -> dict[str, str]:
    """The operator's own (ambient) AWS identity."""
    return {
        "AWS_ACCESS_KEY_ID": "AKIAOPERATOROWN00001",
        "AWS_SECRET_ACCESS_KEY": "operator-own-secret-key",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_without_a_credentials_secret_deletion_is_refused_and_nothing_deleted(
    cluster: Cluster, wafleet_operator: OperatorProcess, aws: AwsEndpoint
) -> None:
    make_secret(cluster, "kek", {"key": SECRET_KEY_VALUE})
    spec = snapshot_spec(aws, "Delete")
    del spec["snapshot"]["credentialsSecret"]  # the runner would use the pod's ambient identity
    created = cluster.create_account("uwe", spec)
    s3 = seed_snapshots(aws, cluster.namespace, "uwe", created["metadata"]["uid"])
    seeded = own_keys(s3, cluster.namespace, "uwe")
    wait_for(lambda: children_exist(cluster, "uwe"), "children")
    delete_account(cluster, "uwe")
    confirm_pod_gone(cluster, "uwe")

    condition = wait_for(lambda: blocked(cluster, "uwe"), "deletion refused", timeout=90)
    assert "NoCredentialsSecret" in condition["message"]
    assert "spec.snapshot.credentialsSecret" in condition["message"]
    wait_for(lambda: warnings(cluster, "uwe", "SnapshotDeletionBlocked"), "a Warning event")
    assert not gone(cluster, "uwe")
    assert own_keys(s3, cluster.namespace, "uwe") == seeded

    let_go(cluster, "uwe")
    assert own_keys(s3, cluster.namespace, "uwe") == seeded
    assert "operator-own-secret-key" not in wafleet_operator.logs()
