"""Labels every child carries, and the subset that selects the session pod.

The ``app.kubernetes.io`` labels are the recommended common labels, so
dashboards and ``kubectl get -l`` work as with any other app;
``wafleet.io/account`` is what the operator's drift handlers use to find the
owning account from a child event.
"""

from __future__ import annotations

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
ACCOUNT_LABEL = "wafleet.io/account"

APP_NAME = "wafleet-runner"
COMPONENT = "session"
PART_OF = "wafleet"
MANAGED_BY = "wafleet-operator"


def selector_labels(account_name: str) -> dict[str, str]:
    """The labels that select the account's pod.

    A StatefulSet's selector is immutable, so it holds only labels that never
    change for an account: no version, no component that might be renamed.
    """
    return {
        NAME_LABEL: APP_NAME,
        INSTANCE_LABEL: account_name,
        ACCOUNT_LABEL: account_name,
    }


def labels(account_name: str) -> dict[str, str]:
    """All labels of every child and of the pod template."""
    return {
        NAME_LABEL: APP_NAME,
        INSTANCE_LABEL: account_name,
        COMPONENT_LABEL: COMPONENT,
        PART_OF_LABEL: PART_OF,
        MANAGED_BY_LABEL: MANAGED_BY,
        ACCOUNT_LABEL: account_name,
    }


# ---------------------------------------------------------------- SenderPool children

#: What the drift handlers of the pool's children read to find the owning pool.
SENDER_POOL_LABEL = "wafleet.io/sender-pool"
SENDER_COMPONENT = "sender"


def sender_selector_labels(pool_name: str) -> dict[str, str]:
    """The labels that select a pool's sender pods (Deployment, PodDisruptionBudget).

    Immutable in a Deployment, so only what never changes for a pool. Never
    ``wafleet.io/account``, not even on a session pool's pods: an account's selector
    ends in it, and a pool named like an account (both ``demo``) would otherwise have
    its senders selected as that account's session pod. Each selector requires the
    label the other's pods lack, so neither ever matches the other's pods.
    """
    return {
        NAME_LABEL: APP_NAME,
        INSTANCE_LABEL: pool_name,
        SENDER_POOL_LABEL: pool_name,
    }


def sender_labels(pool_name: str) -> dict[str, str]:
    """All labels of every child of a pool and of its pod template."""
    return {
        NAME_LABEL: APP_NAME,
        INSTANCE_LABEL: pool_name,
        COMPONENT_LABEL: SENDER_COMPONENT,
        PART_OF_LABEL: PART_OF,
        MANAGED_BY_LABEL: MANAGED_BY,
        SENDER_POOL_LABEL: pool_name,
    }
