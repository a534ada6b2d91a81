"""The runner's ServiceAccount, Role and RoleBinding: least privilege."""

from __future__ import annotations

import pytest

from wafleet_operator.specs.rbac import build_role, build_role_binding, build_service_account

from .cases import CASE_IDS, CASES
from .golden import check_golden

#: Verbs the authorizer checks against resourceNames (list/watch need a
#: metadata.name field selector from the client, but can be restricted).
NAME_RESTRICTABLE = {"get", "update", "patch", "delete", "list", "watch"}
#: Verbs that can never be restricted by name.
UNRESTRICTABLE = {"create", "deletecollection"}


@pytest.mark.parametrize("case", CASE_IDS)
def test_golden(case: str) -> None:
    c = CASES[case]
    check_golden(case, build_service_account(c.account))
    check_golden(case, build_role(c.account))
    check_golden(case, build_role_binding(c.account))


@pytest.mark.parametrize("case", CASE_IDS)
def test_every_restrictable_rule_is_restricted_to_the_account(case: str) -> None:
    c = CASES[case]
    own = {"waa-" + c.name, c.name}
    for rule in build_role(c.account)["rules"]:
        verbs = set(rule["verbs"])
        assert "*" not in verbs
        assert "*" not in rule["resources"]
        if verbs & NAME_RESTRICTABLE:
            # A rule mixing restrictable and unrestrictable verbs would widen the former.
            assert not verbs & UNRESTRICTABLE, rule
            assert rule.get("resourceNames"), rule
            assert set(rule["resourceNames"]) <= own, rule
        else:
            assert verbs <= UNRESTRICTABLE, rule


def test_exact_rules() -> None:
    rules = build_role(CASES["browser-snapshots"].account)["rules"]
    assert rules == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["waa-demo"],
            "verbs": ["get", "update", "patch"],
        },
        {
            "apiGroups": ["wafleet.io"],
            "resources": ["whatsappaccounts"],
            "resourceNames": ["demo"],
            "verbs": ["get", "watch"],
        },
        {
            "apiGroups": ["wafleet.io"],
            "resources": ["whatsappaccounts/status"],
            "resourceNames": ["demo"],
            "verbs": ["get", "patch"],
        },
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    ]


def test_binding_ties_the_role_to_the_service_account_only() -> None:
    c = CASES["protocol-suspended"]
    binding = build_role_binding(c.account)
    sa = build_service_account(c.account)
    role = build_role(c.account)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "tenant-a"}
    ]
    assert sa["automountServiceAccountToken"] is True
