"""Names of the objects an account owns.

Every child shares one name, ``waa-<account>``, so ``kubectl get
sts,svc,sa,role,rolebinding,lease waa-demo`` shows an account's whole footprint
and nothing has to look a name up. The prefix keeps the children apart from
anything else in the namespace that happens to share the account's name.
"""

from __future__ import annotations

#: Prefix of every child's name.
CHILD_PREFIX = "waa-"

#: A StatefulSet labels each pod with ``controller-revision-hash:
#: <statefulset>-<hash>``; a label value is at most 63 characters and the hash
#: suffix takes up to 11, so the StatefulSet's name may be at most 52.
MAX_STATEFULSET_NAME_LENGTH = 52

#: The longest account name whose StatefulSet (and so its pod labels) still
#: fits; the operator's validation rejects longer names before applying anything.
MAX_ACCOUNT_NAME_LENGTH = MAX_STATEFULSET_NAME_LENGTH - len(CHILD_PREFIX)


def child_name(account_name: str) -> str:
    """Name of every child: StatefulSet, headless Service, ServiceAccount, Role,
    RoleBinding and Lease."""
    return f"{CHILD_PREFIX}{account_name}"


def pod_name(account_name: str) -> str:
    """The session pod: the StatefulSet's only ordinal. It is also the runner's
    Lease holder identity, unique because a StatefulSet never runs two pods of
    one ordinal at once (as long as the node is reachable; the Lease covers the rest)."""
    return f"{child_name(account_name)}-0"


def account_name_problem(account_name: str) -> str | None:
    """Why an account name cannot be used for its children, or None if it can."""
    if len(account_name) > MAX_ACCOUNT_NAME_LENGTH:
        return (
            f"at most {MAX_ACCOUNT_NAME_LENGTH} characters, so the StatefulSet "
            f"{child_name(account_name)} fits Kubernetes' name limits"
        )
    return None


# ---------------------------------------------------------------- SenderPool children

#: Prefix of every child of a SenderPool. Not ``waa-``: a pool and an account may share
#: a name (``demo``), and their children must never be the same object.
SENDER_CHILD_PREFIX = "sp-"

#: KEDA writes the ScaledObject's name into the label ``scaledobject.keda.sh/name`` (on
#: the ScaledObject, and its HPA's metric selector), and a label value is at most 63
#: characters; every child of a pool shares that one name, so all of them fit it.
MAX_SENDER_CHILD_NAME_LENGTH = 63

#: The longest pool name whose children fit (the pool's name is also a label value on
#: them, ``wafleet.io/sender-pool``, which the same 63 bounds).
MAX_SENDER_POOL_NAME_LENGTH = MAX_SENDER_CHILD_NAME_LENGTH - len(SENDER_CHILD_PREFIX)


def sender_child_name(pool_name: str) -> str:
    """Name of every child of a pool: Deployment, ServiceAccount, PodDisruptionBudget and
    ScaledObject, so ``kubectl get deploy,sa,pdb,so sp-<pool>`` shows the pool's whole
    footprint."""
    return f"{SENDER_CHILD_PREFIX}{pool_name}"


def sender_pool_name_problem(pool_name: str) -> str | None:
    """Why a pool name cannot be used for its children, or None if it can."""
    if len(pool_name) > MAX_SENDER_POOL_NAME_LENGTH:
        return (
            f"at most {MAX_SENDER_POOL_NAME_LENGTH} characters, so the children "
            f"{sender_child_name(pool_name)} fit Kubernetes' label value limit"
        )
    return None
