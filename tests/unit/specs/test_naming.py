"""Names and labels: the limits the operator's validation relies on."""

from __future__ import annotations

from wafleet_operator import validation
from wafleet_operator.specs.labels import labels, selector_labels
from wafleet_operator.specs.naming import (
    MAX_ACCOUNT_NAME_LENGTH,
    account_name_problem,
    child_name,
    pod_name,
)

#: A controller-revision-hash suffix: "-" and up to 10 characters of hash.
REVISION_HASH_SUFFIX = 1 + 10
LABEL_VALUE_LIMIT = 63


def test_children_and_pod_names() -> None:
    assert child_name("demo") == "waa-demo"
    assert pod_name("demo") == "waa-demo-0"


def test_longest_account_name_still_fits_the_pod_labels() -> None:
    assert MAX_ACCOUNT_NAME_LENGTH == 48
    longest = "a" * MAX_ACCOUNT_NAME_LENGTH
    assert len(child_name(longest)) + REVISION_HASH_SUFFIX <= LABEL_VALUE_LIMIT
    assert len(pod_name(longest)) <= LABEL_VALUE_LIMIT  # statefulset.kubernetes.io/pod-name
    assert all(len(value) <= LABEL_VALUE_LIMIT for value in labels(longest).values())
    assert account_name_problem(longest) is None
    assert account_name_problem(longest + "a") is not None


def test_validation_uses_the_same_limit() -> None:
    assert validation.MAX_ACCOUNT_NAME_LENGTH == MAX_ACCOUNT_NAME_LENGTH


def test_selector_labels_are_a_stable_subset_of_the_labels() -> None:
    selector = selector_labels("demo")
    assert selector.items() <= labels("demo").items()
    assert selector == {
        "app.kubernetes.io/name": "wafleet-runner",
        "app.kubernetes.io/instance": "demo",
        "wafleet.io/account": "demo",
    }
